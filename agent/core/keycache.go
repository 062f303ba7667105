package core

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Working keys of aes-256-gcm key versions without a PIN or PCR policy
// are cached so that an AEAD operation needs no TPM command. They live in
// one arena outside the Go heap (an anonymous private mapping, mlocked and
// excluded from core dumps: keycache_linux.go), one fixed slot per key, so
// the garbage collector never copies them; a slot is zeroed when its key
// is evicted (idle TTL, LRU, a disabled version), and the whole arena on
// reload and stop.
const (
	workingKeySize = 32
	// cacheSlots bounds the cache: 1024 keys, 32 KiB of locked memory,
	// well inside the default RLIMIT_MEMLOCK of 8 MiB.
	cacheSlots = 1024
	// cacheSlotsPerOwner is what one login may hold, so that no caller
	// can evict every other caller's keys (and so slow them to the TPM).
	cacheSlotsPerOwner = cacheSlots / 8
)

// wkID names a cached working key: whose cache share it takes, which key
// and which version.
type wkID struct {
	owner   uint32
	keyID   [16]byte
	version uint32
}

type wkEntry struct {
	id   wkID
	slot int
	used time.Time
	elem *list.Element // in workingKeys.lru, most recent at the front
}

// workingKeys is the cache. Every field is guarded by mu; the arena's
// bytes too (a slot is read only under mu, by use's callback).
type workingKeys struct {
	mu       sync.Mutex
	log      *slog.Logger
	arena    []byte // cacheSlots*workingKeySize bytes, outside the Go heap when mapped
	mapped   bool   // arena is an mmap'd region (to munmap on close)
	free     []int
	m        map[wkID]*wkEntry
	lru      *list.List
	perOwner map[uint32]int
	ttl      time.Duration // 0: nothing is cached
	timer    *time.Timer   // runs sweep while the cache holds keys
	now      func() time.Time
	closed   bool
}

// errCacheClosed is returned by put after close.
var errCacheClosed = errors.New("working-key cache closed")

func newWorkingKeys(log *slog.Logger, ttl time.Duration) *workingKeys {
	arena, mapped, err := lockedArena(cacheSlots * workingKeySize)
	if err != nil {
		// A machine that forbids mlock (RLIMIT_MEMLOCK 0) still works: the
		// arena is then ordinary memory, and the log says so once.
		log.Warn("AEAD working keys are not locked in memory", "err", err)
	}
	w := &workingKeys{log: log, arena: arena, mapped: mapped, m: make(map[wkID]*wkEntry),
		lru: list.New(), perOwner: make(map[uint32]int), ttl: ttl, now: time.Now}
	for i := cacheSlots - 1; i >= 0; i-- {
		w.free = append(w.free, i)
	}
	return w
}

func (w *workingKeys) slot(i int) []byte {
	return w.arena[i*workingKeySize : (i+1)*workingKeySize : (i+1)*workingKeySize]
}

// use runs fn with the cached working key of id, under the cache's lock
// (fn must be quick and must not keep the slice), and reports whether
// the key was cached.
func (w *workingKeys) use(id wkID, fn func(key []byte)) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[id]
	if !ok {
		return false
	}
	if now := w.now(); now.Sub(e.used) < w.ttl {
		e.used = now
		w.lru.MoveToFront(e.elem)
		fn(w.slot(e.slot))
		return true
	}
	w.evictLocked(e)
	return false
}

// put caches key under id and clears key. With a TTL of 0, or after close,
// it only clears key.
func (w *workingKeys) put(id wkID, key []byte) error {
	defer clear(key)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errCacheClosed
	}
	if w.ttl <= 0 {
		return nil
	}
	if e, ok := w.m[id]; ok {
		copy(w.slot(e.slot), key)
		return nil
	}
	if w.perOwner[id.owner] >= cacheSlotsPerOwner {
		w.evictOldestLocked(func(e *wkEntry) bool { return e.id.owner == id.owner })
	}
	if len(w.free) == 0 {
		w.evictOldestLocked(func(*wkEntry) bool { return true })
	}
	i := w.free[len(w.free)-1]
	w.free = w.free[:len(w.free)-1]
	copy(w.slot(i), key)
	e := &wkEntry{id: id, slot: i, used: w.now()}
	e.elem = w.lru.PushFront(e)
	w.m[id] = e
	w.perOwner[id.owner]++
	w.armLocked()
	return nil
}

// evictOldestLocked evicts the least recently used entry that match
// accepts.
func (w *workingKeys) evictOldestLocked(match func(*wkEntry) bool) {
	for el := w.lru.Back(); el != nil; el = el.Prev() {
		if e := el.Value.(*wkEntry); match(e) {
			w.evictLocked(e)
			return
		}
	}
}

// evictLocked zeroes e's slot and frees it.
func (w *workingKeys) evictLocked(e *wkEntry) {
	clear(w.slot(e.slot))
	w.lru.Remove(e.elem)
	delete(w.m, e.id)
	if w.perOwner[e.id.owner]--; w.perOwner[e.id.owner] <= 0 {
		delete(w.perOwner, e.id.owner)
	}
	w.free = append(w.free, e.slot)
}

// forget evicts every cached version of keyID for which drop is true.
func (w *workingKeys) forget(keyID [16]byte, drop func(version uint32) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, e := range w.m {
		if id.keyID == keyID && drop(id.version) {
			w.evictLocked(e)
		}
	}
}

// sweep evicts the keys idle for ttl or longer.
func (w *workingKeys) sweep() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	now := w.now()
	for el := w.lru.Back(); el != nil; {
		e := el.Value.(*wkEntry)
		el = el.Prev()
		if now.Sub(e.used) >= w.ttl {
			w.evictLocked(e)
		}
	}
	w.armLocked()
}

// armLocked schedules a sweep while keys are cached.
func (w *workingKeys) armLocked() {
	if w.timer != nil || len(w.m) == 0 || w.closed {
		return
	}
	w.timer = time.AfterFunc(max(w.ttl/4, time.Second), w.sweep)
}

// reset zeroes and evicts every key and takes the TTL of a reload.
func (w *workingKeys) reset(ttl time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.purgeLocked()
	w.ttl = ttl
}

func (w *workingKeys) purgeLocked() {
	for _, e := range w.m {
		w.evictLocked(e)
	}
	clear(w.arena) // belt and braces: every slot, used or not
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// close zeroes the arena and unmaps it; the cache caches nothing after.
func (w *workingKeys) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.purgeLocked()
	w.closed = true
	if w.mapped {
		freeArena(w.arena)
	}
	w.arena = make([]byte, cacheSlots*workingKeySize) // never written: put refuses
}

// len is the number of cached keys.
func (w *workingKeys) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.m)
}

// MarshalJSON refuses: the cache holds secrets.
func (w *workingKeys) MarshalJSON() ([]byte, error) {
	return nil, errors.New("the working-key cache cannot be marshalled")
}

// LogValue hides the keys: a log line shows only how many are cached.
func (w *workingKeys) LogValue() slog.Value {
	return slog.StringValue(fmt.Sprintf("working-key cache (%d keys, hidden)", w.len()))
}
