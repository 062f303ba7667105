//go:build linux

package agent

import (
	"context"
	"errors"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// TestTPMChanged: a TPM cleared under a running daemon answers TPM_CHANGED
// to every operation that needs it, while what is done in software from the
// records goes on; a daemon started on it refuses to start (§8).
func TestTPMChanged(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	runOpCases(t, c, []opCase{
		{name: "make-key", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256, Purposes: []string{"sign", "agree"}}},
		{name: "make-rsa", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "r", Algorithm: protocol.AlgRSA2048, Purposes: []string{"decrypt"}}},
		{name: "seal", op: protocol.OpSeal, want: protocol.StatusOK, req: &protocol.SealRequest{Alias: "s", Secret: []byte("x")}},
	})
	var key protocol.GetKeyResponse
	c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "k"}, &key)
	td.sw.MustWipe()
	d := make([]byte, 32)
	cases := []opCase{}
	for _, tc := range []struct {
		name string
		op   protocol.Op
		req  any
	}{
		{"generate-key", protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "n", Algorithm: protocol.AlgECP256}},
		{"sign", protocol.OpSign, &protocol.SignRequest{Alias: "k", Digest: d, Hash: "sha256"}},
		{"decrypt", protocol.OpDecrypt, &protocol.DecryptRequest{Alias: "r", Ciphertext: make([]byte, 256)}},
		{"ecdh", protocol.OpECDH, &protocol.ECDHRequest{Alias: "k", PeerPublicKey: key.Key.PublicKey}},
		{"seal", protocol.OpSeal, &protocol.SealRequest{Alias: "s2", Secret: []byte("x")}},
		{"unseal", protocol.OpUnseal, &protocol.UnsealRequest{Alias: "s"}},
		{"get-random", protocol.OpGetRandom, &protocol.GetRandomRequest{N: 8}},
		{"sign-again", protocol.OpSign, &protocol.SignRequest{Alias: "k", Digest: d, Hash: "sha256"}},
	} {
		cases = append(cases, opCase{name: tc.name, op: tc.op, req: tc.req, want: protocol.StatusTPMChanged})
	}
	for _, tc := range []struct {
		name string
		op   protocol.Op
		req  any
	}{
		{"hello", protocol.OpHello, &protocol.HelloRequest{Versions: []uint{1}}},
		{"status", protocol.OpStatus, &protocol.StatusRequest{}},
		{"get-key", protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "k"}},
		{"list-keys", protocol.OpListKeys, &protocol.ListKeysRequest{}},
		{"verify", protocol.OpVerify, &protocol.VerifyRequest{Alias: "k", Digest: d, Hash: "sha256", Signature: []byte{0x30, 0}}},
		{"encrypt", protocol.OpEncrypt, &protocol.EncryptRequest{Alias: "r", Plaintext: []byte("x")}},
		{"delete-key", protocol.OpDeleteKey, &protocol.DeleteKeyRequest{Alias: "s"}},
	} {
		cases = append(cases, opCase{name: tc.name, op: tc.op, req: tc.req, want: protocol.StatusOK})
	}
	runOpCases(t, c, cases)

	td.stop()
	d2, err := New(td.opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := d2.Run(context.Background()); !errors.Is(err, tpm.ErrTPMChanged) {
		t.Errorf("Run on the cleared TPM = %v, want tpm.ErrTPMChanged", err)
	}
}
