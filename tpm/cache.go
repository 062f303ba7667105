package tpm

import (
	"container/list"
	"sync"

	"github.com/google/go-tpm/tpm2"
)

// loadedKey is a key blob loaded in a transient slot.
type loadedKey struct {
	id     [32]byte
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
}

// keyCache is an LRU of loaded keys. It holds no TPM logic: the TPM type
// flushes what the cache hands back, in TPM.flushLocked only.
type keyCache struct {
	capacity int
	order    *list.List // front: most recently used
	byID     map[[32]byte]*list.Element
}

func newKeyCache(capacity int) *keyCache {
	return &keyCache{capacity: max(capacity, 1), order: list.New(), byID: map[[32]byte]*list.Element{}}
}

func (c *keyCache) get(id [32]byte) (*loadedKey, bool) {
	e, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*loadedKey), true
}

func (c *keyCache) full() bool { return c.order.Len() >= c.capacity }
func (c *keyCache) len() int   { return c.order.Len() }

func (c *keyCache) put(k *loadedKey) {
	c.byID[k.id] = c.order.PushFront(k)
}

// oldest removes and returns the least recently used key.
func (c *keyCache) oldest() (*loadedKey, bool) {
	e := c.order.Back()
	if e == nil {
		return nil, false
	}
	k := e.Value.(*loadedKey)
	c.order.Remove(e)
	delete(c.byID, k.id)
	return k, true
}

// remove drops id from the cache and returns its entry, if any.
func (c *keyCache) remove(id [32]byte) (*loadedKey, bool) {
	e, ok := c.byID[id]
	if !ok {
		return nil, false
	}
	c.order.Remove(e)
	delete(c.byID, id)
	return e.Value.(*loadedKey), true
}

// drain empties the cache and returns everything it held.
func (c *keyCache) drain() []*loadedKey {
	var all []*loadedKey
	for k, ok := c.oldest(); ok; k, ok = c.oldest() {
		all = append(all, k)
	}
	return all
}

// parsedCache remembers validated blobs, so a hot Sign skips decoding
// (about 75 µs and 700 allocations per blob). Entries are immutable. It
// has its own lock: parsing happens outside the TPM section.
type parsedCache struct {
	mu sync.Mutex
	m  map[[32]byte]*parsedBlob
}

const maxParsed = 1024

func (c *parsedCache) parse(b *Blob) (*parsedBlob, error) {
	if b == nil {
		return parseBlob(b)
	}
	id := blobID(b)
	if p, ok := c.get(id); ok {
		return p, nil
	}
	p, err := parseBlob(b) // outside the lock: it is the slow part
	if err != nil {
		return nil, err
	}
	c.put(id, p)
	return p, nil
}

func (c *parsedCache) get(id [32]byte) (*parsedBlob, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[id]
	return p, ok
}

func (c *parsedCache) put(id [32]byte, p *parsedBlob) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxParsed {
		c.m = map[[32]byte]*parsedBlob{} // crude bound: start over
	}
	c.m[id] = p
}

func (c *parsedCache) forget(id [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}
