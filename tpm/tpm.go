package tpm

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// TPM owns one TPM connection and serialises every command on it: a caller
// holds the turn (see scheduler) for the whole of one job. Safe for
// concurrent use.
type TPM struct {
	// Set by Open, read-only after.
	opener  Opener
	opts    Options
	log     *slog.Logger
	ownerPW []byte
	info    Info
	algs    map[Algorithm]bool
	hashes  map[crypto.Hash]bool
	srkName []byte // the pinned SRK Name; any other is ErrTPMChanged
	srkPub  []byte // the SRK's TPM2B_PUBLIC, marshalled (its Name is srkName)

	parsed  parsedCache // validated blobs; own lock
	sched   scheduler   // hands out the turn; own lock
	answers answerClock // when the TPM last answered; atomic
	failing atomic.Bool // the last probe found the TPM in failure mode

	// Guarded by the turn: only its holder (functions named …Locked, and
	// what they call) touches these.
	wire   *wire
	srk    srkState
	sess   *saltedSession
	cache  *keyCache
	stale  bool // the last prepare failed (e.g. ErrTPMChanged): redo it first
	closed bool
}

// wire is the transport, remembering the first failure so that the next
// call reconnects instead of talking into a dead connection, and noting
// every answer for the health check.
type wire struct {
	tpm     transport.TPMCloser
	failed  error
	answers *answerClock
}

func (w *wire) Send(cmd []byte) ([]byte, error) {
	if w.failed != nil {
		return nil, w.failed
	}
	rsp, err := w.tpm.Send(cmd)
	if err != nil {
		w.failed = fmt.Errorf("%w: %v", errTransport, err)
		return nil, w.failed
	}
	w.answers.mark()
	return rsp, nil
}

// swtpm answers RETRY to about 1 sign in 200 and is ready again at once:
// the first retry comes soon, later ones back off to maxBackoff.
const (
	maxAttempts  = 8
	firstBackoff = 100 * time.Microsecond
	maxBackoff   = 200 * time.Millisecond
)

// retryLater carries a TPM warning (RETRY, YIELDED, TESTING) out of the
// turn, so that the backoff sleeps without holding it.
type retryLater struct{ err error }

func (r *retryLater) Error() string { return r.err.Error() }
func (r *retryLater) Unwrap() error { return r.err }

// do runs f in a turn of the TPM, reconnecting first if the last call broke
// the transport. It retries RETRY/YIELDED/TESTING with a bounded backoff,
// sleeping between turns; it evicts a cached key on OBJECT_MEMORY, restarts
// a dropped session, and reconnects once if the transport breaks during f.
func (t *TPM) do(ctx context.Context, op string, f func(tr transport.TPM) error) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := t.withTurn(ctx, op, attempt > 1, func() error { return t.doLocked(ctx, op, f) })
		var rl *retryLater
		if !errors.As(err, &rl) {
			return err
		}
		if attempt >= maxAttempts {
			return classify(op, rl.err)
		}
		if serr := sleepCtx(ctx, backoff); serr != nil {
			return fmt.Errorf("%s: %w", op, serr)
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (t *TPM) doLocked(ctx context.Context, op string, f func(tr transport.TPM) error) error {
	if t.closed {
		return fmt.Errorf("%s: %w", op, ErrClosed)
	}
	reconnected := false
	if t.wire.failed != nil || t.stale {
		if err := t.reconnectLocked(ctx); err != nil {
			return t.classifyLocked(op, err)
		}
		reconnected = true
	}
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		err := f(t.wire)
		if err == nil {
			return nil
		}
		if attempt >= maxAttempts {
			return t.classifyLocked(op, err)
		}
		switch {
		case t.wire.failed != nil:
			if reconnected {
				return classify(op, err)
			}
			if rerr := t.reconnectLocked(ctx); rerr != nil {
				return t.classifyLocked(op, rerr)
			}
			reconnected = true
		case isRetryable(err):
			return &retryLater{err}
		case errors.Is(err, tpm2.TPMRCObjectMemory):
			if !t.evictOldestLocked() {
				return classify(op, err)
			}
		case isSessionGone(err) && t.sess != nil:
			t.log.Warn("TPM dropped the salted session; starting a new one", "op", op)
			t.sess = nil
		case isObjectGone(err):
			t.log.Warn("TPM lost a loaded object; resynchronising", "op", op, "err", err)
			if rerr := t.resyncLocked(ctx); rerr != nil {
				return t.classifyLocked(op, rerr)
			}
		default:
			return t.classifyLocked(op, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// reconnectLocked drops the connection and everything loaded through it,
// opens the spec again and re-checks the SRK.
func (t *TPM) reconnectLocked(ctx context.Context) error {
	t.log.Warn("reconnecting to the TPM", "op", "reconnect", "err", t.wire.failed)
	_ = t.wire.tpm.Close()
	t.cache.drain() // the handles died with the connection or are flushed below
	t.sess = nil
	t.srk = srkState{}
	tr, err := t.opener.Dial(ctx)
	if err != nil {
		t.wire.failed = fmt.Errorf("%w: %v", errTransport, err)
		return t.wire.failed
	}
	t.wire = &wire{tpm: tr, answers: &t.answers}
	return t.prepareLocked(ctx)
}

// resyncLocked forgets all handles and re-runs the open-time checks on the
// same connection, after the TPM lost state under us.
func (t *TPM) resyncLocked(ctx context.Context) error {
	for _, k := range t.cache.drain() {
		t.flushLocked(k.handle)
	}
	t.sess = nil
	return t.prepareLocked(ctx)
}

// prepareLocked brings a fresh connection to a known state: started up,
// free of stale objects (without a resource manager), SRK checked.
func (t *TPM) prepareLocked(ctx context.Context) error {
	t.stale = true
	if err := t.prepareStepsLocked(ctx); err != nil {
		return err
	}
	t.stale = false
	return nil
}

func (t *TPM) prepareStepsLocked(ctx context.Context) error {
	if err := retryTPM(ctx, func() error { return startupIfNeeded(t.wire) }); err != nil {
		return err
	}
	if t.opener.NoRM {
		if err := retryTPM(ctx, func() error { return t.flushLeftoversLocked() }); err != nil {
			return err
		}
	}
	return retryTPM(ctx, func() error { return t.setupSRKLocked() })
}

// retryTPM retries f on the TPM's retry warnings, with a bounded backoff.
func retryTPM(ctx context.Context, f func() error) error {
	backoff := firstBackoff
	for attempt := 1; ; attempt++ {
		err := f()
		if err == nil || !isRetryable(err) || attempt >= maxAttempts {
			return err
		}
		if serr := sleepCtx(ctx, backoff); serr != nil {
			return serr
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func startupIfNeeded(tr transport.TPM) error {
	_, err := tpm2.GetRandom{BytesRequested: 1}.Execute(tr)
	if !errors.Is(err, tpm2.TPMRCInitialize) {
		return err
	}
	if _, err := (tpm2.Startup{StartupType: tpm2.TPMSUClear}).Execute(tr); err != nil {
		return fmt.Errorf("tpm2.Startup: %w", err)
	}
	return nil
}

// flushLeftoversLocked flushes the transient objects and sessions that an
// earlier, crashed user of a TPM without resource manager left behind.
func (t *TPM) flushLeftoversLocked() error {
	n := 0
	for _, ht := range []tpm2.TPMHT{tpm2.TPMHTTransient, tpm2.TPMHTHMACSession, tpm2.TPMHTPolicySession} {
		hs, err := listHandles(t.wire, ht)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t.wire); err != nil {
				return fmt.Errorf("tpm2.FlushContext(%#x): %w", uint32(h), err)
			}
			n++
		}
	}
	if n > 0 {
		t.log.Warn("flushed stale TPM handles left by an earlier process", "op", "open", "count", n)
	}
	return nil
}

func listHandles(tr transport.TPM, ht tpm2.TPMHT) ([]tpm2.TPMHandle, error) {
	var all []tpm2.TPMHandle
	next := uint32(ht) << 24
	for {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: next, PropertyCount: 64}.Execute(tr)
		if err != nil {
			return nil, fmt.Errorf("tpm2.GetCapability(handles): %w", err)
		}
		hl, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return nil, fmt.Errorf("tpm2.GetCapability(handles): %w", err)
		}
		for _, h := range hl.Handle {
			if uint32(h)>>24 == uint32(ht) {
				all = append(all, h)
			}
		}
		if !rsp.MoreData || len(hl.Handle) == 0 {
			return all, nil
		}
		next = uint32(hl.Handle[len(hl.Handle)-1]) + 1
	}
}

// flushLocked is the one place that flushes a transient handle.
func (t *TPM) flushLocked(h tpm2.TPMHandle) {
	if t.wire.failed != nil {
		return
	}
	if err := sendFlush(t.wire, h); err != nil {
		t.log.Debug("FlushContext failed", "op", "flush", "handle", uint32(h), "err", err)
	}
}

func (t *TPM) evictOldestLocked() bool {
	k, ok := t.cache.oldest()
	if ok {
		t.flushLocked(k.handle)
	}
	return ok
}

// Close flushes everything this TPM loaded and closes the connection,
// after the job running now; jobs still waiting then get ErrClosed.
func (t *TPM) Close() error {
	return t.withTurn(context.Background(), "tpm.Close", false, t.closeLocked)
}

func (t *TPM) closeLocked() error {
	if t.closed {
		return nil
	}
	t.closed = true
	for _, k := range t.cache.drain() {
		t.flushLocked(k.handle)
	}
	if t.sess != nil {
		t.flushLocked(t.sess.handle)
		t.sess = nil
	}
	if !t.srk.persistent && t.srk.handle != 0 {
		t.flushLocked(t.srk.handle)
	}
	return t.wire.tpm.Close()
}

// sessionLocked returns the kept salted session, starting it if needed.
func (t *TPM) sessionLocked() (*saltedSession, error) {
	if t.sess != nil && t.sess.handle != 0 {
		return t.sess, nil
	}
	s, err := startSaltedSession(t.wire, t.srk.named(), &t.srk.public)
	if err != nil {
		return nil, err
	}
	t.sess = s
	return s, nil
}
