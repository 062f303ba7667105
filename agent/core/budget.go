package core

import (
	"context"
	"fmt"
	"sync"
)

// frameOverhead is what a request costs besides its frame: its goroutine,
// decoded structs and response buffer, roughly.
const frameOverhead = 2 << 10

// byteBudget bounds the request bytes the daemon holds at once, in total
// and per owner (limits.max_inflight_bytes, max_inflight_bytes_per_uid).
// Front ends take bytes before they read a frame; a frame that does not
// fit waits unread in the socket (backpressure) until earlier requests
// are answered. Reproduced without it: 8 connections x 64 in-flight 1 MiB
// signs grew the daemon from 14 MB to 797 MB.
type byteBudget struct {
	mu       sync.Mutex
	total    int64            // guarded by mu
	perOwner map[uint32]int64 // guarded by mu
	freed    chan struct{}    // guarded by mu; closed and replaced when bytes are released to waiters
	waiters  int              // guarded by mu: holds waiting for bytes
}

func newByteBudget() *byteBudget {
	return &byteBudget{perOwner: map[uint32]int64{}, freed: make(chan struct{})}
}

// hold waits until n bytes fit for owner, or ctx ends; waited reports
// that it had to wait.
func (b *byteBudget) hold(ctx context.Context, owner uint32, n int64, lim Limits) (release func(), waited bool, err error) {
	n = min(n, lim.MaxInflightBytesUID) // the largest frame always fits alone
	for {
		b.mu.Lock()
		if b.total+n <= lim.MaxInflightBytes && b.perOwner[owner]+n <= lim.MaxInflightBytesUID {
			b.total += n
			b.perOwner[owner] += n
			b.mu.Unlock()
			return func() { b.release(owner, n) }, waited, nil
		}
		freed := b.freed
		b.waiters++
		b.mu.Unlock()
		waited = true
		select {
		case <-freed:
		case <-ctx.Done():
			b.mu.Lock()
			b.waiters--
			b.mu.Unlock()
			return nil, true, fmt.Errorf("waiting for %d bytes of memory budget: %w", n, ctx.Err())
		}
		b.mu.Lock()
		b.waiters--
		b.mu.Unlock()
	}
}

func (b *byteBudget) release(owner uint32, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total -= n
	if b.perOwner[owner] -= n; b.perOwner[owner] <= 0 {
		delete(b.perOwner, owner)
	}
	if b.waiters > 0 {
		close(b.freed)
		b.freed = make(chan struct{})
	}
}

// used returns the bytes held in total and by owner.
func (b *byteBudget) used(owner uint32) (total, mine int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total, b.perOwner[owner]
}

// HoldFrame takes the memory budget for a frame of n bytes the front end
// is about to read, waiting while the caller's owner, or everyone, holds
// too much. release gives it back once the request is answered.
// waited reports that the frame had to wait (the front end then restarts
// its read deadline).
func (s *Session) HoldFrame(ctx context.Context, n int) (release func(), waited bool, err error) {
	return s.core.budget.hold(ctx, s.caller.Owner, int64(n)+frameOverhead, s.core.Limits())
}
