package tpm

import (
	"context"
	"crypto"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
)

// TestFairShareOnSwtpm: with every command slowed to 40 ms, owner A floods
// the TPM with 20 keygens and signs from 20 goroutines (800 ms or more of
// TPM time); owner B's one Sign waits for the job running now plus its own,
// not for the flood.
//
// A job is one command when nothing must be evicted: then B's wait is two
// command times. When every key has a slot of its own, as many as the
// TPM's 3 transient slots allow, a Create first meets OBJECT_MEMORY and
// evicts a key, which is then loaded again: a job is up to three commands,
// and so is B's.
func TestFairShareOnSwtpm(t *testing.T) {
	const delay = 40 * time.Millisecond
	const ownerA, ownerB = 1000, 2000
	tests := []struct {
		name        string
		sharedKey   bool // B signs with A's key: one key loaded, every job one command
		jobCommands int  // the most commands one job takes
	}{
		{"one-command-jobs", true, 1},
		{"jobs-that-evict", false, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt, in := openFaulty(t, func(o *Options) { o.MaxQueuedPerOwner = 32 })
			keys := makeSignKeys(t, tt.TPM, 2)
			keyA, keyB := keys[0], keys[1]
			if tc.sharedKey {
				keyB = keyA
			}
			for _, k := range []signKey{keyB, keyA} { // loaded, A's the most recent
				if err := k.signAndVerify(tt.TPM, "warm"); err != nil {
					t.Fatal(err)
				}
			}
			in.set(delayEach(delay))
			ctxA := WithOwner(ctx(), ownerA)
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := range 20 {
				wg.Go(func() {
					var err error
					if i%2 == 0 {
						_, _, err = tt.CreateKey(ctxA, KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
					} else {
						err = keyA.signAndVerifyCtx(ctxA, tt.TPM, "a")
					}
					errs <- err
				})
			}
			waitFor(t, "owner A's flood to queue", func() bool { return tt.QueuedBy(ownerA) >= 15 })

			start := time.Now()
			err := keyB.signAndVerifyCtx(WithOwner(ctx(), ownerB), tt.TPM, "b")
			waited := time.Since(start)
			stillQueued := tt.QueuedBy(ownerA)
			if err != nil {
				t.Fatalf("owner B's Sign() during the flood = %v, want nil", err)
			}
			// Room for one RETRY from swtpm and for a busy machine.
			if limit := time.Duration(2*tc.jobCommands)*delay + 80*time.Millisecond; waited > limit {
				t.Errorf("owner B's Sign() took %v during owner A's flood, want at most %v (two jobs of up to %d commands of %v)",
					waited, limit, tc.jobCommands, delay)
			}
			if stillQueued == 0 {
				t.Errorf("owner A had nothing queued when B's Sign() returned: B waited for the whole flood")
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("owner A's job = %v, want nil", err)
				}
			}
			t.Logf("owner B waited %v with %d of owner A's jobs still queued", waited, stillQueued)
		})
	}
}

// TestOwnerQueueLimitOnSwtpm: an owner past MaxQueuedPerOwner gets ErrBusy
// at once, without any TPM work, while another owner is still served.
func TestOwnerQueueLimitOnSwtpm(t *testing.T) {
	tt, in := openFaulty(t, func(o *Options) { o.MaxQueuedPerOwner = 2 })
	k := makeSignKeys(t, tt.TPM, 1)[0]
	stalled, release := make(chan struct{}), make(chan struct{})
	in.set(stallNext(tpm2.TPMCCSign, stalled, release))
	var wg sync.WaitGroup
	ctxA := WithOwner(ctx(), 1)
	sign := func(c context.Context) error {
		_, err := tt.Sign(c, k.blob, k.auth, digestOf(crypto.SHA256, "m"), SignOptions{Hash: crypto.SHA256})
		return err
	}
	wg.Go(func() { sign(ctxA) }) // holds the turn, stalled in the TPM
	<-stalled
	for range 2 {
		wg.Go(func() { sign(ctxA) })
	}
	waitFor(t, "two queued jobs", func() bool { return tt.QueuedBy(1) == 2 })
	in.resetCounts()
	if err := sign(ctxA); !errors.Is(err, ErrBusy) {
		t.Errorf("Sign() past the owner's queue limit = %v, want ErrBusy", err)
	}
	if _, seen := in.counts(); len(seen) != 0 {
		t.Errorf("a refused job sent %v to the TPM, want nothing", seen)
	}
	other := make(chan error, 1)
	go func() { other <- sign(WithOwner(ctx(), 2)) }()
	waitFor(t, "another owner's job to queue", func() bool { return tt.QueuedBy(2) == 1 })
	close(release)
	if err := <-other; err != nil {
		t.Errorf("another owner's Sign() = %v, want nil", err)
	}
	wg.Wait()
}

// waitFor polls cond until it holds, failing t after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for delay := 100 * time.Microsecond; !cond(); delay = min(2*delay, 10*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(delay)
	}
}

// TestFaultStall: while one command is stuck in the TPM, a caller waiting
// for its turn gives up at its deadline, sending nothing; the stuck command
// completes once the TPM answers.
func TestFaultStall(t *testing.T) {
	tt, in := openFaulty(t)
	keys := makeSignKeys(t, tt.TPM, 2)
	stalled, release := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	in.set(stallNext(tpm2.TPMCCSign, stalled, release))
	held := make(chan error, 1)
	go func() { held <- keys[0].signAndVerify(tt.TPM, "held") }()
	<-stalled
	in.resetCounts()

	const deadline = 50 * time.Millisecond
	c, cancel := context.WithTimeout(ctx(), deadline)
	defer cancel()
	start := time.Now()
	_, err := tt.Sign(c, keys[1].blob, keys[1].auth, digestOf(crypto.SHA256, "m"), SignOptions{Hash: crypto.SHA256})
	if waited := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || waited > deadline+500*time.Millisecond {
		t.Errorf("Sign() behind a stalled command = %v after %v, want DeadlineExceeded after about %v", err, waited, deadline)
	}
	if _, seen := in.counts(); len(seen) != 0 {
		t.Errorf("the caller that gave up sent %v, want nothing", seen)
	}
	close(release)
	if err := <-held; err != nil {
		t.Errorf("stalled Sign() once the TPM answered = %v, want nil", err)
	}
}
