//go:build linux

package agent

import (
	"bytes"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestPINsCompareExactly: the TPM strips trailing zero bytes from an auth
// value; PINs are hashed first, so "1234\x00" no longer unlocks a key made
// with "1234", a PIN of "\x00" is a real PIN, and long PINs work.
func TestPINsCompareExactly(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	long := bytes.Repeat([]byte{'p'}, protocol.MaxPINSize)
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
