//go:build linux

package agent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

type slowTPM struct {
	core.TPM
	delay time.Duration
}

func (s *slowTPM) Sign(ctx context.Context, b *tpm.Blob, a tpm.Auth, digest []byte, o tpm.SignOptions) ([]byte, error) {
	time.Sleep(s.delay)
	return s.TPM.Sign(ctx, b, a, digest, o)
}

func TestMemoryBudgetBackpressure(t *testing.T) {
	sw := swtpmtest.Start(t)
	const budget = 3 << 20
	opts, logs, audit := testOptions(t, sw, fmt.Sprintf("[limits]\nmax_frame_size = 1100000\nmax_inflight_bytes_per_uid = %d\nburst = 100000\n", budget))
	opts.wrapTPM = func(b core.TPM) core.TPM { return &slowTPM{b, 20 * time.Millisecond} }
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
			_, mine := td.core().HeldBytes(uint32(os.Getuid()))
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
