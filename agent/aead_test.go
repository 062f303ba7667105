//go:build linux

package agent

import (
	"bytes"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestAEADRoundTrips: every AEAD operation of an aes-256-gcm key, through
// the socket of a daemon on a real swtpm, and a restart keeps the key.
func TestAEADRoundTrips(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	pt := []byte("attack at dawn")
	encCtx := map[string]string{"app": "billing", "tenant": "42"}
	var ct, dkCT, dkPT, ct2 []byte
	runOpCases(t, c, []opCase{
		{name: "keygen", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "a", Algorithm: protocol.AlgAES256GCM},
			check: func(t *testing.T, resp any) {
				k := resp.(*protocol.GenerateKeyResponse).Key
				if len(k.Purposes) != 1 || k.Purposes[0] != protocol.PurposeEncrypt || len(k.Versions) != 1 || k.PublicKey != nil {
					t.Errorf("GenerateKey(aes-256-gcm) = %+v, want purpose encrypt, one version, no public key", k)
				}
			}},
		{name: "keygen-b", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "b", Algorithm: protocol.AlgAES256GCM}},
		{name: "keygen-mac-purpose", op: protocol.OpGenerateKey, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.GenerateKeyRequest{Alias: "x", Algorithm: protocol.AlgAES256GCM, Purposes: []string{protocol.PurposeMAC}}},
		{name: "encrypt", op: protocol.OpAEADEncrypt, want: protocol.StatusOK,
			req: &protocol.AEADEncryptRequest{Alias: "a", Plaintext: pt, Context: encCtx},
			check: func(t *testing.T, resp any) {
				r := resp.(*protocol.AEADEncryptResponse)
				if len(r.Ciphertext) != len(pt)+protocol.AEADOverhead || r.Version != 1 {
					t.Errorf("AEADEncrypt = %d bytes, version %d; want %d, 1", len(r.Ciphertext), r.Version, len(pt)+protocol.AEADOverhead)
				}
				ct = r.Ciphertext
			}},
		{name: "mac-with-aes-key", op: protocol.OpMAC, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.MACRequest{Alias: "a", Data: pt}},
	})
	runOpCases(t, c, []opCase{
		{name: "decrypt", op: protocol.OpAEADDecrypt, want: protocol.StatusOK,
			req: &protocol.AEADDecryptRequest{Ciphertext: ct, Context: encCtx},
			check: func(t *testing.T, resp any) {
				r := resp.(*protocol.AEADDecryptResponse)
				if !bytes.Equal(r.Plaintext, pt) || r.Alias != "a" || r.Version != 1 {
					t.Errorf("AEADDecrypt = %q from %q v%d, want %q from a v1", r.Plaintext, r.Alias, r.Version, pt)
				}
			}},
		{name: "decrypt-wrong-context", op: protocol.OpAEADDecrypt, want: protocol.StatusDecryptFailed,
			req: &protocol.AEADDecryptRequest{Ciphertext: ct, Context: map[string]string{"app": "billing", "tenant": "43"}}},
		{name: "decrypt-missing-context", op: protocol.OpAEADDecrypt, want: protocol.StatusDecryptFailed,
			req: &protocol.AEADDecryptRequest{Ciphertext: ct}},
		{name: "decrypt-truncated", op: protocol.OpAEADDecrypt, want: protocol.StatusDecryptFailed,
			req: &protocol.AEADDecryptRequest{Ciphertext: ct[:len(ct)-1], Context: encCtx}},
		{name: "decrypt-short", op: protocol.OpAEADDecrypt, want: protocol.StatusDecryptFailed,
			req: &protocol.AEADDecryptRequest{Ciphertext: ct[:10], Context: encCtx}},
		{name: "datakey", op: protocol.OpGenerateDataKey, want: protocol.StatusOK,
			req: &protocol.GenerateDataKeyRequest{Alias: "a", Bytes: 32, Context: encCtx},
			check: func(t *testing.T, resp any) {
				r := resp.(*protocol.GenerateDataKeyResponse)
				if len(r.Plaintext) != 32 || len(r.Ciphertext) != 32+protocol.AEADOverhead {
					t.Errorf("GenerateDataKey = %d, %d bytes; want 32, %d", len(r.Plaintext), len(r.Ciphertext), 32+protocol.AEADOverhead)
				}
				dkPT, dkCT = r.Plaintext, r.Ciphertext
			}},
		{name: "datakey-no-plaintext", op: protocol.OpGenerateDataKey, want: protocol.StatusOK,
			req: &protocol.GenerateDataKeyRequest{Alias: "a", Bytes: 16, NoPlaintext: true},
			check: func(t *testing.T, resp any) {
				if r := resp.(*protocol.GenerateDataKeyResponse); r.Plaintext != nil || len(r.Ciphertext) != 16+protocol.AEADOverhead {
					t.Errorf("GenerateDataKey(no_plaintext) = %x, %d bytes; want none, %d", r.Plaintext, len(r.Ciphertext), 16+protocol.AEADOverhead)
				}
			}},
		{name: "datakey-too-big", op: protocol.OpGenerateDataKey, want: protocol.StatusBadRequest,
			req: &protocol.GenerateDataKeyRequest{Alias: "a", Bytes: 65}},
		{name: "reencrypt", op: protocol.OpReEncrypt, want: protocol.StatusOK,
			req:   &protocol.ReEncryptRequest{Ciphertext: ct, FromContext: encCtx, ToAlias: "b", ToContext: map[string]string{"moved": "yes"}},
			check: func(t *testing.T, resp any) { ct2 = resp.(*protocol.ReEncryptResponse).Ciphertext }},
		{name: "reencrypt-wrong-context", op: protocol.OpReEncrypt, want: protocol.StatusDecryptFailed,
			req: &protocol.ReEncryptRequest{Ciphertext: ct, ToAlias: "b"}},
	})
	runOpCases(t, c, []opCase{
		{name: "datakey-decrypts", op: protocol.OpAEADDecrypt, want: protocol.StatusOK,
			req: &protocol.AEADDecryptRequest{Ciphertext: dkCT, Context: encCtx},
			check: func(t *testing.T, resp any) {
				if got := resp.(*protocol.AEADDecryptResponse).Plaintext; !bytes.Equal(got, dkPT) {
					t.Errorf("AEADDecrypt(data key) = %x, want %x", got, dkPT)
				}
			}},
		{name: "reencrypted-decrypts-under-b", op: protocol.OpAEADDecrypt, want: protocol.StatusOK,
			req: &protocol.AEADDecryptRequest{Ciphertext: ct2, Context: map[string]string{"moved": "yes"}},
			check: func(t *testing.T, resp any) {
				if r := resp.(*protocol.AEADDecryptResponse); !bytes.Equal(r.Plaintext, pt) || r.Alias != "b" {
					t.Errorf("AEADDecrypt(re-encrypted) = %q from %q, want %q from b", r.Plaintext, r.Alias, pt)
				}
			}},
	})

	if err := td.stop(); err != nil {
		t.Fatal(err)
	}
	td2 := runDaemon(t, td.sw, td.opts, td.logs, td.audit)
	runOpCases(t, dialHello(t, td2.socket), []opCase{{name: "decrypt-after-restart", op: protocol.OpAEADDecrypt,
		want: protocol.StatusOK, req: &protocol.AEADDecryptRequest{Ciphertext: ct, Context: encCtx}}})
}
