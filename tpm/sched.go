package tpm

import (
	"container/list"
	"context"
	"fmt"
	"sync"
)

// The TPM runs one command at a time, and some take a second (an RSA
// keygen). A plain mutex would serve its waiters in no useful order and
// could not be left when a caller's deadline passes, so one owner's flood
// would hold everyone else back (issue 9 §1). The scheduler instead hands
// the TPM's one turn to the waiting owner served least recently, oldest
// job first: an owner new to the queue goes next, so it waits only for the
// turn running now, while owners that keep the TPM busy take turns
// round-robin. An owner that goes idle and comes back keeps its place in
// that order, so queueing one job at a time earns no extra turns.

// DefaultMaxQueuedPerOwner is how many jobs one owner may have waiting for
// the TPM when Options.MaxQueuedPerOwner is 0.
const DefaultMaxQueuedPerOwner = 8

// ownerKey is whom a job is queued for.
type ownerKey struct {
	uid    uint32
	tagged bool // false: the system owner, a ctx without WithOwner
}

type ownerCtxKey struct{}

// WithOwner returns a ctx whose TPM jobs are queued for owner, the key the
// TPM's turns are shared by (the agent passes the caller's login uid). Jobs
// of a ctx without an owner belong to one system owner, which has no queue
// limit: it is the daemon's own work and every caller not yet tagged.
func WithOwner(ctx context.Context, owner uint32) context.Context {
	return context.WithValue(ctx, ownerCtxKey{}, owner)
}

func ownerOf(ctx context.Context) ownerKey {
	if uid, ok := ctx.Value(ownerCtxKey{}).(uint32); ok {
		return ownerKey{uid: uid, tagged: true}
	}
	return ownerKey{}
}

// scheduler hands out the TPM's one turn. It must not be copied.
type scheduler struct {
	mu        sync.Mutex // guards the fields below
	maxQueued int        // per tagged owner
	held      bool       // someone has the turn
	waiting   int        // waiters in all queues
	served    uint64     // turns handed out so far
	ring      list.List  // of *ownerQueue with waiters, least recently served first
	queues    map[ownerKey]*ownerQueue
}

// ownerQueue is one owner's waiters, oldest first. It stays in
// scheduler.queues for a while after its last waiter, idle, so that the
// owner's place in the order (lastServed) survives a gap between jobs.
type ownerQueue struct {
	key        ownerKey
	lastServed uint64        // scheduler.served when it last got the turn; 0: never
	waiters    list.List     // of *waiter
	inRing     *list.Element // its place in scheduler.ring; nil while idle
}

type waiter struct {
	ready   chan struct{} // closed when the turn is handed to this waiter
	granted bool          // guarded by scheduler.mu
	elem    *list.Element // in ownerQueue.waiters
}

// maxIdleQueues bounds the idle owners remembered beyond those waiting;
// past it they are all forgotten, and come back as if never served.
const maxIdleQueues = 64

// acquire waits for the turn of owner o. It returns ErrBusy at once when o
// already has maxQueued jobs waiting (unless admitted: a job coming back
// after a retry backoff was counted when it first queued), or ctx's error
// when ctx ends first; the waiter then leaves the queue at once.
func (s *scheduler) acquire(ctx context.Context, o ownerKey, admitted bool) error {
	q, w, err := s.enqueue(o, admitted)
	if w == nil {
		return err // the turn was free (nil), or ErrBusy
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	if s.leave(q, w) {
		// Handed over just as ctx ended: pass it on rather than use it.
		s.release()
	}
	return fmt.Errorf("waiting for the TPM: %w", ctx.Err())
}

// enqueue takes the turn if it is free, refuses o past its limit, or
// queues a waiter for o.
func (s *scheduler) enqueue(o ownerKey, admitted bool) (*ownerQueue, *waiter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queues[o]
	if q == nil {
		if s.queues == nil {
			s.queues = map[ownerKey]*ownerQueue{}
		}
		q = &ownerQueue{key: o}
		s.queues[o] = q
	}
	if !s.held { // then nobody waits either: release hands the turn over
		s.held = true
		s.served++
		q.lastServed = s.served
		return q, nil, nil
	}
	if o.tagged && !admitted && q.waiters.Len() >= s.maxQueued {
		return q, nil, ErrBusy
	}
	w := &waiter{ready: make(chan struct{})}
	w.elem = q.waiters.PushBack(w)
	if q.inRing == nil {
		s.enterRingLocked(q)
	}
	s.waiting++
	return q, w, nil
}

// leave takes w out of q, unless it has been handed the turn meanwhile,
// which it reports.
func (s *scheduler) leave(q *ownerQueue, w *waiter) (granted bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.granted {
		return true
	}
	s.removeLocked(q, w)
	return false
}

// enterRingLocked places q among the waiting owners by when it was last
// served, after those served as long ago or longer.
func (s *scheduler) enterRingLocked(q *ownerQueue) {
	for e := s.ring.Front(); e != nil; e = e.Next() {
		if e.Value.(*ownerQueue).lastServed > q.lastServed {
			q.inRing = s.ring.InsertBefore(q, e)
			return
		}
	}
	q.inRing = s.ring.PushBack(q)
}

// release hands the turn to the oldest waiter of the owner served least
// recently, which then goes to the back; with nobody waiting it frees it.
func (s *scheduler) release() {
	if w := s.next(); w != nil {
		close(w.ready)
	}
}

// next picks the waiter to hand the turn to, or frees the turn and
// returns nil.
func (s *scheduler) next() *waiter {
	s.mu.Lock()
	defer s.mu.Unlock()
	front := s.ring.Front()
	if front == nil {
		s.held = false
		return nil
	}
	q := front.Value.(*ownerQueue)
	w := q.waiters.Front().Value.(*waiter)
	s.served++
	q.lastServed = s.served
	s.removeLocked(q, w)
	if q.inRing != nil {
		s.ring.MoveToBack(q.inRing)
	}
	w.granted = true
	return w
}

// removeLocked takes w out of q, and q out of the ring once it is empty.
func (s *scheduler) removeLocked(q *ownerQueue, w *waiter) {
	q.waiters.Remove(w.elem)
	s.waiting--
	if q.waiters.Len() == 0 {
		s.ring.Remove(q.inRing)
		q.inRing = nil
		s.forgetIdleLocked()
	}
}

// forgetIdleLocked drops the idle owners once there are too many: their
// places in the order matter little next to a bounded memory.
func (s *scheduler) forgetIdleLocked() {
	if len(s.queues) <= s.ring.Len()+maxIdleQueues {
		return
	}
	for k, q := range s.queues {
		if q.inRing == nil {
			delete(s.queues, k)
		}
	}
}

// queueLen is the number of waiters, not counting the holder of the turn.
func (s *scheduler) queueLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

// queuedBy is the number of o's waiters.
func (s *scheduler) queuedBy(o ownerKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[o]; q != nil {
		return q.waiters.Len()
	}
	return 0
}

// QueueLen is the number of TPM jobs waiting for their turn, not counting
// the one the TPM is running.
func (t *TPM) QueueLen() int { return t.sched.queueLen() }

// SetMaxQueuedPerOwner changes how many jobs one owner may have waiting
// (a reload); 0 means DefaultMaxQueuedPerOwner. Jobs already waiting stay.
func (t *TPM) SetMaxQueuedPerOwner(n int) {
	if n <= 0 {
		n = DefaultMaxQueuedPerOwner
	}
	t.sched.mu.Lock()
	defer t.sched.mu.Unlock()
	t.sched.maxQueued = n
}

// QueuedBy is the number of TPM jobs owner (see WithOwner) has waiting.
func (t *TPM) QueuedBy(owner uint32) int {
	return t.sched.queuedBy(ownerKey{uid: owner, tagged: true})
}

// withTurn runs f holding the TPM's turn. The release is deferred, so a
// panic in f cannot leave the TPM taken for every other caller.
func (t *TPM) withTurn(ctx context.Context, op string, admitted bool, f func() error) error {
	if err := t.sched.acquire(ctx, ownerOf(ctx), admitted); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer t.sched.release()
	return f()
}
