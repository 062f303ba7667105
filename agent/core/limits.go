package core

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// connCounter counts open connections in total and per owner, so that one
// login holding many connections cannot take every slot from the others,
// and keeps the last few slots for admins, so that an admin can always
// get in.
type connCounter struct {
	mu     sync.Mutex
	total  int
	perUID map[uint32]int
}

func newConnCounter() *connCounter {
	return &connCounter{perUID: map[uint32]int{}}
}

// acquire takes a slot for owner, or reports false when a limit is
// reached. Only admins may take the reserved slots.
func (c *connCounter) acquire(owner uint32, admin bool, lim Limits) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := lim.MaxConnections
	if !admin {
		total -= lim.AdminReserved
	}
	if c.total >= total || c.perUID[owner] >= lim.MaxConnectionsPerUID {
		return false
	}
	uid := owner
	c.total++
	c.perUID[uid]++
	return true
}

func (c *connCounter) release(uid uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.perUID[uid]--; c.perUID[uid] <= 0 {
		delete(c.perUID, uid)
	}
}

// ofOwner is owner's open connections: what a non-admin may know.
func (c *connCounter) ofOwner(owner uint32) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.perUID[owner]
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// rateLimiters holds one token bucket per owner, shared by all of that
// owner's connections. A reload changes the rate of existing buckets in place.
type rateLimiters struct {
	mu sync.Mutex
	m  map[uint32]*rate.Limiter
}

func newRateLimiters() *rateLimiters {
	return &rateLimiters{m: map[uint32]*rate.Limiter{}}
}

// forUID returns uid's bucket; a connection fetches it once.
func (r *rateLimiters) forUID(uid uint32, lim Limits) *rate.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, ok := r.m[uid]
	if !ok {
		l = rate.NewLimiter(rateOf(lim), lim.Burst)
		r.m[uid] = l
	}
	return l
}

// allowN takes n tokens, after bringing the bucket to the current
// configured rate.
func allowN(l *rate.Limiter, lim Limits, n int) bool {
	if want := rateOf(lim); l.Limit() != want || l.Burst() != lim.Burst {
		l.SetLimit(want)
		l.SetBurst(lim.Burst)
	}
	return l.AllowN(time.Now(), n)
}

func rateOf(lim Limits) rate.Limit {
	if lim.RequestsPerSecond <= 0 {
		return rate.Inf
	}
	return rate.Limit(lim.RequestsPerSecond)
}
