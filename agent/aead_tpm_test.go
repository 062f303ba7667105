//go:build linux

package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// startTappedDaemon is startDaemon with the TPM reached through a
// recording tap, so a test can count what crosses the bus.
func startTappedDaemon(t *testing.T) (*testDaemon, *swtpmtest.Tap) {
	t.Helper()
	sw := swtpmtest.Start(t)
	sw.SetLockout(swtpmtest.ChipLockoutTries, time.Hour, time.Hour)
	tap := sw.StartTap()
	opts, logs, audit := testOptions(t, sw, "")
	opts.TPMSpec = tap.Spec()
	return runDaemon(t, sw, opts, logs, audit), tap
}

// TestAEADZeroTPMCommandsOnceCached: once a key's working key is cached,
// AEADEncrypt, AEADDecrypt, GenerateDataKey and ReEncrypt send nothing to
// the TPM: not one byte crosses the tap. A PIN-bound key is never cached:
// every operation reaches the TPM, and so does every one of a PCR-bound key.
func TestAEADZeroTPMCommandsOnceCached(t *testing.T) {
	td, tap := startTappedDaemon(t)
	c := dialHello(t, td.socket)
	encCtx := map[string]string{"a": "b"}
	ct := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "a"}, []byte("warm"), encCtx) // derives and caches v1
	pinCT := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "p", PIN: []byte("1234")}, []byte("pin"), nil)
	pcrCT := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "r", PCRs: []uint{16}}, []byte("pcr"), nil)
	time.Sleep(50 * time.Millisecond) // let the daemon's own start-up TPM work end
	before := tap.Len()
	for i := range 25 {
		for _, tc := range []struct {
			op  protocol.Op
			req any
		}{
			{protocol.OpAEADEncrypt, &protocol.AEADEncryptRequest{Alias: "a", Plaintext: []byte("hot"), Context: encCtx}},
			{protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: ct, Context: encCtx}},
			{protocol.OpGenerateDataKey, &protocol.GenerateDataKeyRequest{Alias: "a", Bytes: 32}},
			{protocol.OpReEncrypt, &protocol.ReEncryptRequest{Ciphertext: ct, FromContext: encCtx, ToAlias: "a"}},
		} {
			if st, msg := c.call(tc.op, tc.req, nil); st != protocol.StatusOK {
				t.Fatalf("round %d: %v = %v (%s)", i, tc.op, st, msg)
			}
		}
	}
	if got := tap.Len() - before; got != 0 {
		t.Errorf("bytes to and from the TPM over 100 cached AEAD operations = %d, want 0", got)
	}
	for i := range 3 {
		for _, tc := range []struct {
			name string
			req  *protocol.AEADDecryptRequest
		}{
			{"PIN", &protocol.AEADDecryptRequest{Ciphertext: pinCT, PIN: []byte("1234")}},
			{"PCR", &protocol.AEADDecryptRequest{Ciphertext: pcrCT}},
		} {
			before := tap.Len()
			if st, msg := c.call(protocol.OpAEADDecrypt, tc.req, nil); st != protocol.StatusOK {
				t.Fatalf("AEADDecrypt(%s key) = %v (%s)", tc.name, st, msg)
			}
			if tap.Len() == before {
				t.Errorf("AEADDecrypt %d of a %s key sent nothing to the TPM, want a TPM2_HMAC (never cached)", i, tc.name)
			}
		}
	}
}

// TestAEADPINAndPCRKeys: PIN- and PCR-bound aes-256-gcm keys behave as the
// asymmetric ones do: a wrong PIN is WRONG_PIN at once, a changed PCR is
// POLICY_MISMATCH at the next use (nothing cached lets it through).
func TestAEADPINAndPCRKeys(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	pt := []byte("bound")
	pinCT := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "p", PIN: []byte("1234")}, pt, nil)
	pcrCT := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "r", PCRs: []uint{16}}, pt, nil)
	runOpCases(t, c, []opCase{
		{name: "pin-right", op: protocol.OpAEADDecrypt, want: protocol.StatusOK, req: &protocol.AEADDecryptRequest{Ciphertext: pinCT, PIN: []byte("1234")}},
		{name: "pin-wrong", op: protocol.OpAEADDecrypt, want: protocol.StatusWrongPIN, req: &protocol.AEADDecryptRequest{Ciphertext: pinCT, PIN: []byte("4321")}},
		{name: "pin-missing", op: protocol.OpAEADEncrypt, want: protocol.StatusWrongPIN, req: &protocol.AEADEncryptRequest{Alias: "p", Plaintext: pt}},
		{name: "pin-to-no-pin-key", op: protocol.OpAEADDecrypt, want: protocol.StatusWrongPIN, req: &protocol.AEADDecryptRequest{Ciphertext: pcrCT, PIN: []byte("1234")}},
		{name: "datakey-pin-wrong", op: protocol.OpGenerateDataKey, want: protocol.StatusWrongPIN, req: &protocol.GenerateDataKeyRequest{Alias: "p", Bytes: 16, PIN: []byte("x")}},
		{name: "reencrypt-to-pin-key-without-pin", op: protocol.OpReEncrypt, want: protocol.StatusWrongPIN, req: &protocol.ReEncryptRequest{Ciphertext: pcrCT, ToAlias: "p"}},
		{name: "reencrypt-to-pin-key", op: protocol.OpReEncrypt, want: protocol.StatusOK, req: &protocol.ReEncryptRequest{Ciphertext: pcrCT, ToAlias: "p", ToPIN: []byte("1234")}},
		{name: "pcr-unchanged", op: protocol.OpAEADDecrypt, want: protocol.StatusOK, req: &protocol.AEADDecryptRequest{Ciphertext: pcrCT}},
	})
	if err := td.stop(); err != nil {
		t.Fatal(err)
	}
	td.sw.Tool("tpm2_pcrextend", "16:sha256=0000000000000000000000000000000000000000000000000000000000000001")
	td2 := runDaemon(t, td.sw, td.opts, td.logs, td.audit)
	runOpCases(t, dialHello(t, td2.socket), []opCase{
		{name: "pcr-changed-decrypt", op: protocol.OpAEADDecrypt, want: protocol.StatusPolicyMismatch, req: &protocol.AEADDecryptRequest{Ciphertext: pcrCT}},
		{name: "pcr-changed-encrypt", op: protocol.OpAEADEncrypt, want: protocol.StatusPolicyMismatch, req: &protocol.AEADEncryptRequest{Alias: "r", Plaintext: pt}},
		{name: "pin-key-unaffected", op: protocol.OpAEADDecrypt, want: protocol.StatusOK, req: &protocol.AEADDecryptRequest{Ciphertext: pinCT, PIN: []byte("1234")}},
	})
}

// TestAEADAudit: each AEAD operation leaves one audit record with the key
// id, the key version and the encryption context.
func TestAEADAudit(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	ct := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "a"}, []byte("x"), map[string]string{"tenant": "42", "file": "a b\n"})
	if st, _ := c.call(protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: ct, Context: map[string]string{"tenant": "43"}}, nil); st != protocol.StatusDecryptFailed {
		t.Fatalf("AEADDecrypt(wrong context) = %v, want DECRYPT_FAILED", st)
	}
	var enc, dec map[string]any
	for range 100 {
		for _, l := range td.audit.auditLines(t) {
			switch l["op"] {
			case "AEADEncrypt":
				enc = l
			case "AEADDecrypt":
				dec = l
			}
		}
		if enc != nil && dec != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if enc == nil || dec == nil {
		t.Fatalf("audit = %s, want AEADEncrypt and AEADDecrypt records", td.audit)
	}
	if enc["key_version"] != float64(1) || enc["context"] != `{"file":"a b\\n","tenant":"42"}` || len(enc["key_id"].(string)) != 32 {
		t.Errorf("AEADEncrypt audit = %v, want key_id, key_version 1, context with the newline escaped", enc)
	}
	if dec["status"] != "DECRYPT_FAILED" || dec["context"] != `{"tenant":"43"}` || dec["alias"] != "a" || !strings.HasPrefix(enc["key_id"].(string), dec["key_id"].(string)) {
		t.Errorf("AEADDecrypt audit = %v, want status DECRYPT_FAILED, alias a, the key's id, context tenant 43", dec)
	}
}

// TestAEADReEncryptAudit: ReEncrypt's record names the source key and
// version, and carries both contexts and the destination key.
func TestAEADReEncryptAudit(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	ct := aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "a"}, []byte("x"), map[string]string{"f": "1"})
	aeadKey(t, c, &protocol.GenerateKeyRequest{Alias: "b"}, []byte("y"), nil)
	if st, msg := c.call(protocol.OpReEncrypt, &protocol.ReEncryptRequest{Ciphertext: ct, FromContext: map[string]string{"f": "1"},
		ToAlias: "b", ToContext: map[string]string{"t": "2"}}, nil); st != protocol.StatusOK {
		t.Fatalf("ReEncrypt = %v (%s)", st, msg)
	}
	var rec map[string]any
	for range 100 {
		for _, l := range td.audit.auditLines(t) {
			if l["op"] == "ReEncrypt" {
				rec = l
			}
		}
		if rec != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, _ := rec["context"].(string)
	if rec == nil || rec["alias"] != "a" || rec["key_version"] != float64(1) ||
		!strings.Contains(ctx, `"from":{"f":"1"}`) || !strings.Contains(ctx, `"to":{"t":"2"}`) || !strings.Contains(ctx, `"to_alias":"b"`) {
		t.Errorf("ReEncrypt audit = %v, want alias a, version 1, both contexts and to_alias b", rec)
	}
}
