package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// checkSigns signs with alias and verifies the signature against pub.
func checkSigns(t *testing.T, c *client.Client, alias string, pub crypto.PublicKey, opts ...client.CallOption) {
	t.Helper()
	d := sha256.Sum256([]byte("restart " + alias))
	sig, err := c.Sign(context.Background(), alias, crypto.SHA256, d[:], opts...)
	if err != nil {
		t.Fatalf("Sign(%s) = %v", alias, err)
	}
	ok := false
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(p, d[:], sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(p, crypto.SHA256, d[:], sig) == nil
	}
	if !ok {
		t.Errorf("Sign(%s) made a signature that does not verify", alias)
	}
}

// TestRestartKeepsKeys stops the daemon gracefully and starts it again on the
// same state and TPM: every kind of key and secret still works.
func TestRestartKeepsKeys(t *testing.T) {
	s, _, _ := startStack(t)
	c := dial(t, s)
	ctx := context.Background()
	pin := client.WithPIN([]byte("2468"))
	specs := []struct {
		alias string
		alg   client.Algorithm
		opts  []client.CallOption
	}{
		{"p256", client.AlgECP256, nil},
		{"p384-pin", client.AlgECP384, []client.CallOption{pin}},
		{"rsa", client.AlgRSA2048, nil},
	}
	pubs := map[string]crypto.PublicKey{}
	for _, sp := range specs {
		k, err := c.GenerateKey(ctx, sp.alias, sp.alg, sp.opts...)
		if err != nil {
			t.Fatalf("GenerateKey(%s) = %v", sp.alias, err)
		}
		pubs[sp.alias] = k.PublicKey
		checkSigns(t, c, sp.alias, k.PublicKey, sp.opts...)
	}
	if _, err := c.Seal(ctx, "sealed", []byte("s3cret"), pin); err != nil {
		t.Fatalf("Seal = %v", err)
	}
	c.Close()

	restart(t, s)
	c = dial(t, s)
	for _, sp := range specs {
		k, err := c.Key(ctx, sp.alias)
		if err != nil {
			t.Fatalf("Key(%s) after restart = %v", sp.alias, err)
		}
		if !k.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(pubs[sp.alias]) {
			t.Errorf("Key(%s) after restart has another public key", sp.alias)
		}
		checkSigns(t, c, sp.alias, pubs[sp.alias], sp.opts...)
	}
	if got, err := c.Unseal(ctx, "sealed", pin); err != nil || string(got) != "s3cret" {
		t.Errorf("Unseal after restart = %q, %v, want s3cret", got, err)
	}
}

// TestTamperedOrMovedRecordRefused edits, renames and copies key records
// while the daemon is stopped: each altered record is refused with
// KEY_INVALIDATED and the untouched one still works.
func TestTamperedOrMovedRecordRefused(t *testing.T) {
	s, _, _ := startStack(t)
	c := dial(t, s)
	ctx := context.Background()
	for _, alias := range []string{"edited", "src"} {
		if _, err := c.GenerateKey(ctx, alias, client.AlgECP256); err != nil {
			t.Fatalf("GenerateKey(%s) = %v", alias, err)
		}
	}
	src, err := c.Key(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := s.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(s.StateDir, "keys")
	rec := func(uid, alias string) string { return filepath.Join(keys, uid, alias+".key") }
	b, err := os.ReadFile(rec("0", "edited"))
	if err != nil {
		t.Fatalf("reading the record: %v", err)
	}
	b[len(b)/2] ^= 0x01
	mustWrite(t, rec("0", "edited"), b)
	srcRec, err := os.ReadFile(rec("0", "src"))
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, rec("0", "copied"), srcRec)
	if err := os.MkdirAll(filepath.Join(keys, "65534"), 0o700); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, rec("65534", "src"), srcRec)
	if err := s.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	c = dial(t, s)
	tests := []struct {
		name  string
		alias string
		opts  []client.CallOption
	}{
		{"edited", "edited", nil},
		{"copied-to-another-alias", "copied", nil},
		{"copied-to-another-uid", "src", []client.CallOption{client.ForUID(65534)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Key(ctx, tt.alias, tt.opts...)
			if !errors.Is(err, client.ErrKeyInvalidated) {
				t.Errorf("Key(%s) = %v, want KEY_INVALIDATED", tt.alias, err)
			}
			if len(tt.opts) == 0 {
				d := sha256.Sum256([]byte("x"))
				if _, err := c.Sign(ctx, tt.alias, crypto.SHA256, d[:]); !errors.Is(err, client.ErrKeyInvalidated) {
					t.Errorf("Sign(%s) = %v, want KEY_INVALIDATED", tt.alias, err)
				}
			}
		})
	}
	checkSigns(t, c, "src", src.PublicKey)
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestWrongPIN: a key and a secret made with a PIN refuse a wrong or missing
// PIN with WRONG_PIN and work with the right one.
func TestWrongPIN(t *testing.T) {
	s, _, _ := startStack(t)
	c := dial(t, s)
	ctx := context.Background()
	right, wrong := client.WithPIN([]byte("correct horse")), client.WithPIN([]byte("battery staple"))
	k, err := c.GenerateKey(ctx, "pinned", client.AlgECP256, right)
	if err != nil {
		t.Fatalf("GenerateKey = %v", err)
	}
	if !k.HasPIN {
		t.Errorf("GenerateKey with a PIN: HasPIN = false, want true")
	}
	if _, err := c.Seal(ctx, "sealed", []byte("x"), right); err != nil {
		t.Fatalf("Seal = %v", err)
	}
	d := sha256.Sum256([]byte("pin"))
	for _, tt := range []struct {
		name string
		opts []client.CallOption
	}{{"wrong", []client.CallOption{wrong}}, {"missing", nil}} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Sign(ctx, "pinned", crypto.SHA256, d[:], tt.opts...); !errors.Is(err, client.ErrWrongPIN) {
				t.Errorf("Sign(%s PIN) = %v, want WRONG_PIN", tt.name, err)
			}
			if _, err := c.Unseal(ctx, "sealed", tt.opts...); !errors.Is(err, client.ErrWrongPIN) {
				t.Errorf("Unseal(%s PIN) = %v, want WRONG_PIN", tt.name, err)
			}
		})
	}
	checkSigns(t, c, "pinned", k.PublicKey, right)
	if got, err := c.Unseal(ctx, "sealed", right); err != nil || !bytes.Equal(got, []byte("x")) {
		t.Errorf("Unseal(right PIN) = %q, %v", got, err)
	}
}

// TestPCRChangeGivesPolicyMismatch extends PCR 16 while the daemon is stopped
// (swtpm serves one client at a time): keys and secrets bound to it then fail
// with POLICY_MISMATCH, unbound ones still work.
func TestPCRChangeGivesPolicyMismatch(t *testing.T) {
	s, sw, _ := startStack(t)
	c := dial(t, s)
	ctx := context.Background()
	if _, err := c.GenerateKey(ctx, "bound", client.AlgECP256, client.WithPCRs(16)); err != nil {
		t.Fatalf("GenerateKey(bound) = %v", err)
	}
	free, err := c.GenerateKey(ctx, "free", client.AlgECP256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Seal(ctx, "sealed", []byte("x"), client.WithPCRs(16)); err != nil {
		t.Fatalf("Seal = %v", err)
	}
	d := sha256.Sum256([]byte("pcr"))
	if _, err := c.Sign(ctx, "bound", crypto.SHA256, d[:]); err != nil {
		t.Fatalf("Sign(bound) before the change = %v", err)
	}
	c.Close()
	if err := s.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	sw.Tool("tpm2_pcrextend", "16:sha256=0000000000000000000000000000000000000000000000000000000000000001")
	if err := s.StartDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	c = dial(t, s)
	if _, err := c.Sign(ctx, "bound", crypto.SHA256, d[:]); !errors.Is(err, client.ErrPolicyMismatch) {
		t.Errorf("Sign(bound) after the change = %v, want POLICY_MISMATCH", err)
	}
	if _, err := c.Unseal(ctx, "sealed"); !errors.Is(err, client.ErrPolicyMismatch) {
		t.Errorf("Unseal(sealed) after the change = %v, want POLICY_MISMATCH", err)
	}
	checkSigns(t, c, "free", free.PublicKey)
}
