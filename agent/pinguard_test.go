//go:build linux

package agent

import (
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestWrongPINsOfOneUIDSpareOthers is the reproduction of issue 9 §2 on
// swtpm's own lockout parameters (3 tries): uid 65534 gives 10,000 wrong
// PINs to its own key; the TPM is asked once, the rest are refused
// locally, and root's PIN key and PIN-sealed secret keep working with the
// right PIN. A restart does not give uid 65534 its budget back.
func TestWrongPINsOfOneUIDSpareOthers(t *testing.T) {
	sw := swtpmtest.Start(t)
	opts, logs, audit := testOptions(t, sw, "[limits]\nrequests_per_second = 0\n")
	td := runDaemon(t, sw, opts, logs, audit)
	root := dialHello(t, td.socket)
	rootPIN := []byte("root-pin")
	runOpCases(t, root, []opCase{
		{name: "root-key", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "rk", Algorithm: protocol.AlgECP256, PIN: rootPIN}},
		{name: "root-secret", op: protocol.OpSeal, want: protocol.StatusOK,
			req: &protocol.SealRequest{Alias: "rs", Secret: []byte("s3cret"), PIN: rootPIN}},
	})
	nobody := core.Caller{UID: 65534, GID: 65534}
	do := func(td *testDaemon, req any, op protocol.Op) protocol.Status {
		sess, err := td.core().Connect(nobody)
		if err != nil {
			t.Fatal(err)
		}
		defer sess.Close()
		call := &core.Call{Op: op, Req: req}
		res := sess.Do(t.Context(), call)
		call.Finish()
		return res.Status
	}
	if st := do(td, &protocol.GenerateKeyRequest{Alias: "mine", Algorithm: protocol.AlgECP256, PIN: []byte("right")}, protocol.OpGenerateKey); st != protocol.StatusOK {
		t.Fatalf("uid 65534 GenerateKey = %v", st)
	}
	counts := map[protocol.Status]int{}
	for range 10_000 {
		counts[do(td, &protocol.SignRequest{Alias: "mine", Hash: protocol.HashSHA256, Message: []byte("m"), PIN: []byte("wrong")}, protocol.OpSign)]++
	}
	if counts[protocol.StatusWrongPIN] != 1 || counts[protocol.StatusLockedOut] != 9_999 {
		t.Errorf("10,000 wrong PINs of uid 65534 = %v, want 1 WRONG_PIN (the TPM asked once) and 9,999 LOCKED_OUT", counts)
	}
	sign := &protocol.SignRequest{Alias: "rk", Hash: protocol.HashSHA256, Message: []byte("m"), PIN: rootPIN}
	runOpCases(t, root, []opCase{
		{name: "root-key-still-signs", op: protocol.OpSign, want: protocol.StatusOK, req: sign},
		{name: "root-secret-still-unseals", op: protocol.OpUnseal, want: protocol.StatusOK,
			req: &protocol.UnsealRequest{Alias: "rs", PIN: rootPIN}},
	})

	if err := td.stop(); err != nil {
		t.Fatal(err)
	}
	td2 := runDaemon(t, sw, opts, logs, audit)
	if st := do(td2, &protocol.SignRequest{Alias: "mine", Hash: protocol.HashSHA256, Message: []byte("m"), PIN: []byte("right")}, protocol.OpSign); st != protocol.StatusLockedOut {
		t.Errorf("uid 65534 after a restart = %v, want LOCKED_OUT (the ledger survives)", st)
	}
	runOpCases(t, dialHello(t, td2.socket), []opCase{
		{name: "root-after-restart", op: protocol.OpSign, want: protocol.StatusOK, req: sign},
	})
}
