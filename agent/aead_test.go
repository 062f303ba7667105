//go:build linux

package agent

import (
	"bytes"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
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

// aeadKey makes an aes-256-gcm key and returns a ciphertext of pt under it.
func aeadKey(t *testing.T, c *rawClient, req *protocol.GenerateKeyRequest, pt []byte, encCtx map[string]string) []byte {
	t.Helper()
	req.Algorithm = protocol.AlgAES256GCM
	if st, msg := c.call(protocol.OpGenerateKey, req, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey(%s) = %v (%s)", req.Alias, st, msg)
	}
	var r protocol.AEADEncryptResponse
	if st, msg := c.call(protocol.OpAEADEncrypt, &protocol.AEADEncryptRequest{Alias: req.Alias, Plaintext: pt, Context: encCtx, PIN: req.PIN}, &r); st != protocol.StatusOK {
		t.Fatalf("AEADEncrypt(%s) = %v (%s)", req.Alias, st, msg)
	}
	return r.Ciphertext
}

// TestAEADTamperEveryByte: a changed bit anywhere in a ciphertext is
// DECRYPT_FAILED, except in the key id, which then names no key of the
// caller: KEY_NOT_FOUND, as for any unknown key id.
func TestAEADTamperEveryByte(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	encCtx := map[string]string{"k": "v"}
	ct := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "a"}, []byte("0123456789"), encCtx)
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x80
		want := protocol.StatusDecryptFailed
		if i >= 1 && i < 17 {
			want = protocol.StatusKeyNotFound
		}
		st, msg := c.call(protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: bad, Context: encCtx}, nil)
		if st != want {
			t.Errorf("AEADDecrypt(byte %d changed) = %v (%s), want %v", i, st, msg, want)
		}
		if st == protocol.StatusDecryptFailed && msg != "decryption failed" {
			t.Errorf("AEADDecrypt(byte %d changed) message = %q, want %q", i, msg, "decryption failed")
		}
	}
	for n := 0; n < len(ct); n += 7 {
		if st, _ := c.call(protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: ct[:n], Context: encCtx}, nil); st != protocol.StatusDecryptFailed && st != protocol.StatusBadRequest {
			t.Errorf("AEADDecrypt(cut to %d bytes) = %v, want DECRYPT_FAILED", n, st)
		}
	}
}

// TestAEADOtherUID: another uid's ciphertext is KEY_NOT_FOUND, like a
// random key id; an admin may name the owner's namespace.
func TestAEADOtherUID(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	ct := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "k"}, []byte("mine"), nil)
	owner := c.caller(t)
	other := &core.Caller{UID: owner + 4242, GID: 4242, Groups: []uint32{4242}}
	random := bytes.Clone(ct)
	copy(random[1:17], "0123456789abcdef")
	tests := []struct {
		name   string
		caller *core.Caller
		op     protocol.Op
		req    any
		want   protocol.Status
	}{
		{"other-decrypt", other, protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: ct}, protocol.StatusKeyNotFound},
		{"random-key-id", &core.Caller{UID: owner}, protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: random}, protocol.StatusKeyNotFound},
		{"other-reencrypt", other, protocol.OpReEncrypt, &protocol.ReEncryptRequest{Ciphertext: ct, ToAlias: "k"}, protocol.StatusKeyNotFound},
		{"other-encrypt", other, protocol.OpAEADEncrypt, &protocol.AEADEncryptRequest{Alias: "k", Plaintext: []byte("x")}, protocol.StatusKeyNotFound},
		{"other-naming-owner", other, protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: ct, UID: u32(owner)}, protocol.StatusPermissionDenied},
		{"admin-naming-owner", &core.Caller{UID: 0}, protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: ct, UID: u32(owner)}, protocol.StatusOK},
		{"admin-own-namespace", &core.Caller{UID: 0}, protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: ct}, protocol.StatusKeyNotFound},
	}
	if owner == 0 {
		tests = tests[:len(tests)-1] // root's own namespace is the owner's
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fakeRequest(t, td, tc.caller, tc.op, tc.req); got != tc.want {
				t.Errorf("%v as uid %d = %v, want %v", tc.op, tc.caller.UID, got, tc.want)
			}
		})
	}
}

// TestAEADVersions: after a rotation new ciphertexts use version 2 and
// version 1's still decrypt, until min_decryption_version passes them or
// version 1 is disabled; the only enabled version cannot be disabled; a
// restart keeps every version and its state.
func TestAEADVersions(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	pt := []byte("versioned")
	ct1 := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "a"}, pt, nil)
	var ct2 []byte
	dec := func(name string, ct []byte, want protocol.Status) opCase {
		return opCase{name: name, op: protocol.OpAEADDecrypt, want: want, req: &protocol.AEADDecryptRequest{Ciphertext: ct}}
	}
	set := func(name string, req *protocol.SetKeyVersionRequest, want protocol.Status) opCase {
		req.Alias = "a"
		return opCase{name: name, op: protocol.OpSetKeyVersion, want: want, req: req}
	}
	one, two, three := uint32(1), uint32(2), uint32(3)
	runOpCases(t, c, []opCase{
		set("disable-only-version", &protocol.SetKeyVersionRequest{Version: 1, State: protocol.VersionDisabled}, protocol.StatusBadRequest),
		{name: "rotate", op: protocol.OpRotateKey, want: protocol.StatusOK, req: &protocol.RotateKeyRequest{Alias: "a"}},
		{name: "encrypt-v2", op: protocol.OpAEADEncrypt, want: protocol.StatusOK, req: &protocol.AEADEncryptRequest{Alias: "a", Plaintext: pt},
			check: func(t *testing.T, resp any) {
				r := resp.(*protocol.AEADEncryptResponse)
				if r.Version != 2 {
					t.Errorf("AEADEncrypt after rotation = version %d, want 2", r.Version)
				}
				ct2 = r.Ciphertext
			}},
	})
	runOpCases(t, c, []opCase{
		dec("v1-after-rotation", ct1, protocol.StatusOK),
		dec("v2", ct2, protocol.StatusOK),
		set("disable-v1", &protocol.SetKeyVersionRequest{Version: 1, State: protocol.VersionDisabled}, protocol.StatusOK),
		dec("v1-disabled", ct1, protocol.StatusKeyVersionDisabled),
		set("disable-v2-too", &protocol.SetKeyVersionRequest{Version: 2, State: protocol.VersionDisabled}, protocol.StatusBadRequest),
		set("enable-v1", &protocol.SetKeyVersionRequest{Version: 1, State: protocol.VersionEnabled}, protocol.StatusOK),
		dec("v1-enabled-again", ct1, protocol.StatusOK),
		set("min-3", &protocol.SetKeyVersionRequest{MinDecryptionVersion: &three}, protocol.StatusBadRequest),
		set("min-2", &protocol.SetKeyVersionRequest{MinDecryptionVersion: &two}, protocol.StatusOK),
		dec("v1-below-min", ct1, protocol.StatusKeyVersionDisabled),
		dec("v2-at-min", ct2, protocol.StatusOK),
		{name: "reencrypt-v1-below-min", op: protocol.OpReEncrypt, want: protocol.StatusKeyVersionDisabled,
			req: &protocol.ReEncryptRequest{Ciphertext: ct1, ToAlias: "a"}},
		set("version-99", &protocol.SetKeyVersionRequest{Version: 99, State: protocol.VersionDisabled}, protocol.StatusBadRequest),
		set("nothing", &protocol.SetKeyVersionRequest{}, protocol.StatusBadRequest),
	})
	if err := td.stop(); err != nil {
		t.Fatal(err)
	}
	td2 := runDaemon(t, td.sw, td.opts, td.logs, td.audit)
	c2 := dialHello(t, td2.socket)
	runOpCases(t, c2, []opCase{
		dec("v1-still-below-min-after-restart", ct1, protocol.StatusKeyVersionDisabled),
		dec("v2-after-restart", ct2, protocol.StatusOK),
		set("min-1", &protocol.SetKeyVersionRequest{MinDecryptionVersion: &one}, protocol.StatusOK),
		dec("v1-after-restart", ct1, protocol.StatusOK),
		{name: "show", op: protocol.OpGetKey, want: protocol.StatusOK, req: &protocol.GetKeyRequest{Alias: "a"},
			check: func(t *testing.T, resp any) {
				k := resp.(*protocol.GetKeyResponse).Key
				if len(k.Versions) != 2 || k.MinDecryptionVersion != 1 {
					t.Errorf("GetKey after restart = %+v, want 2 versions, min 1", k)
				}
			}},
	})
}
