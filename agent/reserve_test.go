//go:build linux

package agent

import (
	"context"
	"crypto"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// countingTPM counts the creates the real TPM is asked for.
type countingTPM struct {
	core.TPM
	creates atomic.Int32
}

func (c *countingTPM) CreateKey(ctx context.Context, spec tpm.KeySpec) (*tpm.Blob, crypto.PublicKey, error) {
	c.creates.Add(1)
	return c.TPM.CreateKey(ctx, spec)
}

func startCountingDaemon(t *testing.T, cfgBody string) (*testDaemon, *countingTPM) {
	t.Helper()
	sw := swtpmtest.Start(t)
	opts, logs, audit := testOptions(t, sw, cfgBody)
	counter := &countingTPM{}
	opts.wrapTPM = func(b core.TPM) core.TPM { counter.TPM = b; return counter }
	return runDaemon(t, sw, opts, logs, audit), counter
}

// pipeline sends every request on c at once and returns the statuses by
// request order.
func pipeline(t *testing.T, c *rawClient, op protocol.Op, reqs []any) []protocol.Status {
	t.Helper()
	ids := map[uint32]int{}
	for i, r := range reqs {
		ids[c.send(op, r)] = i
	}
	out := make([]protocol.Status, len(reqs))
	for range reqs {
		h, _ := c.mustRecv()
		out[ids[h.ID]] = h.Status
	}
	return out
}

func countStatus(sts []protocol.Status) map[protocol.Status]int {
	m := map[protocol.Status]int{}
	for _, s := range sts {
		m[s]++
	}
	return m
}

// TestQuotaReservedBeforeTPM is the reproduction: with a quota of 1,
// twelve concurrent RSA keygens did 3.6 s of TPM work for 11 refusals.
// Now the slot is reserved before the TPM is asked: one create, eleven
// QUOTA_EXCEEDED; and concurrent creates of one alias make one key.
func TestQuotaReservedBeforeTPM(t *testing.T) {
	td, counter := startCountingDaemon(t, "[limits]\nmax_keys_per_uid = 1\nburst = 100000\n")
	c := dialHello(t, td.socket)
	var reqs []any
	for i := range 12 {
		reqs = append(reqs, &protocol.GenerateKeyRequest{Alias: fmt.Sprintf("k%d", i), Algorithm: protocol.AlgRSA2048})
	}
	got := countStatus(pipeline(t, c, protocol.OpGenerateKey, reqs))
	if got[protocol.StatusOK] != 1 || got[protocol.StatusQuotaExceeded] != 11 {
		t.Errorf("12 concurrent keygens with quota 1 = %v, want 1 OK and 11 QUOTA_EXCEEDED", got)
	}
	if n := counter.creates.Load(); n != 1 {
		t.Errorf("TPM creates = %d, want 1", n)
	}

	td2, counter2 := startCountingDaemon(t, "")
	c2 := dialHello(t, td2.socket)
	reqs = reqs[:0]
	for range 6 {
		reqs = append(reqs, &protocol.GenerateKeyRequest{Alias: "same", Algorithm: protocol.AlgECP256})
	}
	got = countStatus(pipeline(t, c2, protocol.OpGenerateKey, reqs))
	if got[protocol.StatusOK] != 1 || got[protocol.StatusKeyExists] != 5 {
		t.Errorf("6 concurrent keygens of one alias = %v, want 1 OK and 5 KEY_EXISTS", got)
	}
	if n := counter2.creates.Load(); n != 1 {
		t.Errorf("TPM creates for one alias = %d, want 1", n)
	}
}

// TestRateCountsCost: an RSA keygen costs far more tokens than a sign.
func TestRateCountsCost(t *testing.T) {
	td := startDaemon(t, ("[limits]\nrequests_per_second = 0.01\nburst = 300\n"))
	c := dialHello(t, td.socket)
	runOpCases(t, c, []opCase{
		{name: "ec-keygen", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "ec", Algorithm: protocol.AlgECP256}},
		{name: "rsa-keygen-over-budget", op: protocol.OpGenerateKey, want: protocol.StatusRateLimited,
			req: &protocol.GenerateKeyRequest{Alias: "rsa", Algorithm: protocol.AlgRSA2048}},
		{name: "sign-still-fits", op: protocol.OpSign, want: protocol.StatusOK,
			req: &protocol.SignRequest{Alias: "ec", Hash: protocol.HashSHA256, Message: []byte("m")}},
	})
}
