package store

import (
	"sync"

	"golang.org/x/sys/unix"
)

// defaultCachedRecords bounds the record cache. A record takes about 1–2 KiB
// in memory, so this is a few tens of MiB at most, well inside the 150 MB
// RSS target with 100,000 stored keys.
const defaultCachedRecords = 16384

type recordKey struct {
	uid   uint32
	alias string
}

// fileID identifies the version of a record file that was read: an admin
// who removes or replaces a record with file tools changes it.
type fileID struct {
	ino, ctime uint64
	size       int64
}

func fileIDOfStat(st *unix.Stat_t) fileID {
	return fileID{ino: uint64(st.Ino), ctime: uint64(st.Ctim.Nano()), size: st.Size}
}

type cacheEntry struct {
	r  *Record
	id fileID
}

// recordCache holds verified records by (uid, alias). When full, it evicts
// an arbitrary entry: cheap, and a miss costs only one small file read.
type recordCache struct {
	mu  sync.RWMutex
	max int
	m   map[recordKey]cacheEntry
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, m: make(map[recordKey]cacheEntry)}
}

func (c *recordCache) get(k recordKey) (cacheEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.m[k]
	return e, ok
}

func (c *recordCache) put(k recordKey, r *Record, id fileID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = cacheEntry{r, id}
}

func (c *recordCache) remove(k recordKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

func (c *recordCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
