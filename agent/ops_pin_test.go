package agent

import (
	"bytes"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestPINsCompareExactly: the TPM strips trailing zero bytes from an auth
// value; PINs are hashed first, so "1234\x00" no longer unlocks a key made
// with "1234", a PIN of "\x00" is a real PIN, and long PINs work.
func TestPINsCompareExactly(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	long := bytes.Repeat([]byte{'p'}, maxPIN)
	sign := func(alias string, pin []byte) *protocol.SignRequest {
		return &protocol.SignRequest{Alias: alias, Hash: protocol.HashSHA256, Message: []byte("m"), PIN: pin}
	}
	runOpCases(t, c, []opCase{
		{name: "make-1234", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256, PIN: []byte("1234")}},
		{name: "right-pin", op: protocol.OpSign, want: protocol.StatusOK, req: sign("k", []byte("1234"))},
		{name: "trailing-nul-is-wrong", op: protocol.OpSign, want: protocol.StatusWrongPIN, req: sign("k", []byte("1234\x00"))},
		{name: "make-nul", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "z", Algorithm: protocol.AlgECP256, PIN: []byte{0}},
			check: func(t *testing.T, resp any) {
				if !resp.(*protocol.GenerateKeyResponse).Key.HasPIN {
					t.Errorf("key with PIN \\x00: has_pin = false, want true")
				}
			}},
		{name: "nul-pin-unlocks", op: protocol.OpSign, want: protocol.StatusOK, req: sign("z", []byte{0})},
		{name: "make-long", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "l", Algorithm: protocol.AlgECP256, PIN: long}},
		{name: "long-pin-unlocks", op: protocol.OpSign, want: protocol.StatusOK, req: sign("l", long)},
		{name: "too-long", op: protocol.OpGenerateKey, want: protocol.StatusBadRequest,
			req: &protocol.GenerateKeyRequest{Alias: "x", Algorithm: protocol.AlgECP256, PIN: append(long, 'p')}},
	})
}

func TestPINAuthSchemes(t *testing.T) {
	call := &Call{}
	if got := call.pinAuth(store.PINRaw, []byte("1234")); string(got) != "1234" {
		t.Errorf("pinAuth(raw, 1234) = %q, want the PIN itself (records made before hashing)", got)
	}
	a, b := call.pinAuth(store.PINSHA256, []byte("1234")), call.pinAuth(store.PINSHA256, []byte("1234\x00"))
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Errorf("pinAuth(sha256) = %x and %x, want 32 distinct bytes", a, b)
	}
	if got := call.pinAuth(store.PINSHA256, nil); got != nil {
		t.Errorf("pinAuth(sha256, no PIN) = %x, want none", got)
	}
}
