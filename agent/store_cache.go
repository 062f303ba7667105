package agent

import "sync"

// defaultCachedRecords bounds the record cache. A record takes about 1–2 KiB
// in memory, so this is a few tens of MiB at most, well inside the 150 MB
// RSS target with 100,000 stored keys.
const defaultCachedRecords = 16384

type recordKey struct {
	uid   uint32
	alias string
}

// recordCache holds verified records by (uid, alias). When full, it evicts
// an arbitrary entry: cheap, and a miss costs only one small file read.
type recordCache struct {
	mu  sync.RWMutex
	max int
	m   map[recordKey]*Record
}

func newRecordCache(max int) *recordCache {
	return &recordCache{max: max, m: make(map[recordKey]*Record)}
}

func (c *recordCache) get(k recordKey) *Record {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

func (c *recordCache) put(k recordKey, r *Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[k] = r
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
