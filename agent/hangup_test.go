//go:build linux

package agent

import (
	"context"
	"crypto"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// createCounter counts the keys the TPM really made.
type createCounter struct {
	core.TPM
	done atomic.Int32
}

func (c *createCounter) CreateKey(ctx context.Context, spec tpm.KeySpec) (*tpm.Blob, crypto.PublicKey, error) {
	b, pub, err := c.TPM.CreateKey(ctx, spec)
	if err == nil {
		c.done.Add(1)
	}
	return b, pub, err
}

// TestHungUpPeerLeavesTheTPMQueue: a peer that pipelines 12 RSA keygens
// (each a quarter of a second or more inside the TPM) and hangs up does
// not get them made: its requests still waiting for the TPM leave the
// queue when the daemon sees the hang-up.
func TestHungUpPeerLeavesTheTPMQueue(t *testing.T) {
	sw := swtpmtest.Start(t)
	opts, logs, audit := testOptions(t, sw, "[limits]\nburst = 100000\n")
	counter := &createCounter{}
	opts.wrapTPM = func(b core.TPM) core.TPM { counter.TPM = b; return counter }
	td := runDaemon(t, sw, opts, logs, audit)
	c := dialHello(t, td.socket)
	for i := range 12 {
		c.send(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: fmt.Sprintf("k%d", i), Algorithm: protocol.AlgRSA2048})
	}
	time.Sleep(100 * time.Millisecond) // the daemon reads them; the first is in the TPM
	c.nc.Close()
	time.Sleep(2 * time.Second)
	if n := counter.done.Load(); n > 4 {
		t.Errorf("keys made for a peer that hung up = %d of 12, want the queue dropped (at most the few in the TPM then)", n)
	}
}
