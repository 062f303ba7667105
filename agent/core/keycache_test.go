package core

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, workingKeySize) }

func newTestCache(t *testing.T, ttl time.Duration) (*workingKeys, *fakeClock) {
	w := newWorkingKeys(slog.New(slog.DiscardHandler), ttl)
	t.Cleanup(w.close)
	clk := &fakeClock{t: time.Unix(1767225600, 0)}
	w.now = clk.now
	return w, clk
}

func cached(w *workingKeys, id wkID) []byte {
	var out []byte
	w.use(id, func(k []byte) { out = append([]byte(nil), k...) })
	return out
}

// TestWorkingKeysZeroed: a working key's bytes are in the arena while it
// is cached, and every byte of them is zero after it is evicted by its
// idle TTL, by LRU, by forget, by a reload and by close.
func TestWorkingKeysZeroed(t *testing.T) {
	id := func(n byte) wkID { return wkID{owner: 1000, keyID: [16]byte{n}, version: 1} }
	tests := []struct {
		name  string
		evict func(w *workingKeys, clk *fakeClock)
	}{
		{"idle-ttl", func(w *workingKeys, clk *fakeClock) { clk.add(5 * time.Minute); w.sweep() }},
		{"ttl-at-use", func(w *workingKeys, clk *fakeClock) { clk.add(5 * time.Minute); cached(w, id(1)) }},
		{"forget", func(w *workingKeys, _ *fakeClock) { w.forget([16]byte{1}, func(uint32) bool { return true }) }},
		{"reload", func(w *workingKeys, _ *fakeClock) { w.reset(5 * time.Minute) }},
		{"close", func(w *workingKeys, _ *fakeClock) { w.close() }},
		{"lru", func(w *workingKeys, clk *fakeClock) {
			for i := range cacheSlotsPerOwner {
				clk.add(time.Millisecond)
				w.put(wkID{owner: 1000, keyID: [16]byte{2, byte(i), byte(i >> 8)}, version: 1}, testKey(0xbb))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, clk := newTestCache(t, 5*time.Minute)
			secret := testKey(0xa5)
			if err := w.put(id(1), secret); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(secret, make([]byte, workingKeySize)) {
				t.Errorf("put left the caller's copy = %x, want it cleared", secret)
			}
			if !bytes.Contains(w.arenaBytes(), testKey(0xa5)) {
				t.Fatalf("arena lacks the cached key")
			}
			if got := cached(w, id(1)); !bytes.Equal(got, testKey(0xa5)) {
				t.Fatalf("use(cached) = %x, want the key", got)
			}
			tt.evict(w, clk)
			arena := w.arenaBytes()
			if bytes.Contains(arena, []byte{0xa5, 0xa5, 0xa5, 0xa5}) {
				t.Errorf("arena after %s still holds the key's bytes", tt.name)
			}
			if got := cached(w, id(1)); got != nil {
				t.Errorf("use after %s = %x, want a miss", tt.name, got)
			}
		})
	}
}

// TestWorkingKeysFair: one owner cannot hold more than its share, so it
// cannot evict the keys of another.
func TestWorkingKeysFair(t *testing.T) {
	w, clk := newTestCache(t, time.Hour)
	victim := wkID{owner: 1, keyID: [16]byte{9}, version: 1}
	w.put(victim, testKey(1))
	for i := range cacheSlots * 2 {
		clk.add(time.Millisecond)
		w.put(wkID{owner: 2, keyID: [16]byte{byte(i), byte(i >> 8)}, version: 1}, testKey(2))
	}
	if got := cached(w, victim); !bytes.Equal(got, testKey(1)) {
		t.Errorf("owner 1's key after owner 2 cached %d keys = %x, want it kept", cacheSlots*2, got)
	}
	if n := w.len(); n != cacheSlotsPerOwner+1 {
		t.Errorf("cached keys = %d, want %d (owner 2's share, and owner 1's key)", n, cacheSlotsPerOwner+1)
	}
}

func TestWorkingKeysTTLZeroCachesNothing(t *testing.T) {
	w, _ := newTestCache(t, 0)
	w.put(wkID{owner: 1}, testKey(3))
	if w.len() != 0 || bytes.Contains(w.arenaBytes(), []byte{3, 3, 3, 3}) {
		t.Errorf("aead_key_cache_ttl = 0 cached a key")
	}
}

func TestWorkingKeysNeverMarshalled(t *testing.T) {
	w, _ := newTestCache(t, time.Minute)
	w.put(wkID{owner: 1}, testKey(0x42))
	if b, err := json.Marshal(w); err == nil {
		t.Errorf("json.Marshal(cache) = %s, want an error", b)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "cache", w)
	if s := buf.String(); bytes.Contains(buf.Bytes(), []byte("4242")) || !bytes.Contains(buf.Bytes(), []byte("hidden")) {
		t.Errorf("log line = %q, want the keys hidden", s)
	}
	if s := fmt.Sprint(w.LogValue()); s == "" {
		t.Errorf("LogValue() empty")
	}
}
