package agent

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

func TestByteBudget(t *testing.T) {
	lim := Limits{MaxInflightBytes: 300, MaxInflightBytesUID: 200}
	b := newByteBudget()
	ctx := t.Context()
	r1, err := b.hold(ctx, 1, 150, lim)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := b.hold(short, 1, 100, lim); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hold over owner 1's budget = %v, want to wait until the deadline", err)
	}
	r2, err := b.hold(ctx, 2, 150, lim)
	if err != nil {
		t.Fatalf("owner 2 hold = %v, want its own budget", err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := b.hold(ctx, 3, 50, lim) // total 300 full: waits
		if err == nil {
			r()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("hold over the total = %v before any release, want a wait", err)
	case <-time.After(20 * time.Millisecond):
	}
	r1()
	if err := <-got; err != nil {
		t.Errorf("hold after a release = %v, want nil", err)
	}
	r2()
	if total, mine := b.used(1); total != 0 || mine != 0 {
		t.Errorf("used(1) after all releases = %d, %d, want 0, 0", total, mine)
	}
	if r, err := b.hold(ctx, 1, 10_000, lim); err != nil {
		t.Errorf("hold of a frame larger than the owner budget = %v, want it to fit alone", err)
	} else {
		r()
	}
}

// slowTPM makes every Sign of the real TPM take at least delay, as if the
// TPM were busy with another caller.
type slowTPM struct {
	tpmBackend
	delay time.Duration
}

func (s *slowTPM) Sign(ctx context.Context, b *tpm.Blob, a tpm.Auth, digest []byte, h crypto.Hash, pss bool) ([]byte, error) {
	time.Sleep(s.delay)
	return s.tpmBackend.Sign(ctx, b, a, digest, h, pss)
}

// TestMemoryBudgetBackpressure: pipelined 1 MiB signs on several
// connections while the TPM is slow never hold more request bytes than
// the owner's budget; the rest wait unread, and all are answered.
func TestMemoryBudgetBackpressure(t *testing.T) {
	sw := swtpmtest.Start(t)
	const budget = 3 << 20
	opts, logs, audit := testOptions(t, sw, fmt.Sprintf("[limits]\nmax_frame_size = 1100000\nmax_inflight_bytes_per_uid = %d\nburst = 100000\n", budget))
	opts.wrapTPM = func(b tpmBackend) tpmBackend { return &slowTPM{b, 20 * time.Millisecond} }
	td := runDaemon(t, sw, opts, logs, audit)
	setup := dialHello(t, td.socket)
	runOpCases(t, setup, []opCase{{name: "key", op: protocol.OpGenerateKey, want: protocol.StatusOK,
		req: &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}}})

	msg := bytes.Repeat([]byte{'m'}, 1<<20)
	var peak atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, mine := td.core().budget.used(uint32(os.Getuid()))
			if mine > peak.Load() {
				peak.Store(mine)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	for range 3 {
		c := dialHello(t, td.socket)
		wg.Go(func() {
			reqs := make([]any, 6)
			for i := range reqs {
				reqs[i] = &protocol.SignRequest{Alias: "k", Hash: protocol.HashSHA256, Message: msg}
			}
			for i, st := range pipeline(t, c, protocol.OpSign, reqs) {
				if st != protocol.StatusOK {
					t.Errorf("sign %d = %v, want OK", i, st)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	if p := peak.Load(); p > budget || p == 0 {
		t.Errorf("peak request bytes held = %d, want 1..%d", p, budget)
	}
}
