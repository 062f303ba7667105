package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// tinkAEAD is tink.AEAD's method set, written out so that this test needs
// no Tink: client.AEAD must satisfy it exactly.
type tinkAEAD interface {
	Encrypt(plaintext, associatedData []byte) ([]byte, error)
	Decrypt(ciphertext, associatedData []byte) ([]byte, error)
}

var _ tinkAEAD = (*client.AEAD)(nil)

// TestAEADCommands runs the real CLI and the Go client against the real
// daemon: keygen of an aes-256-gcm key with a rotation period, datakey (in
// the clear and not), reencrypt to another key, version management, show.
func TestAEADCommands(t *testing.T) {
	s, _, b := startStack(t)
	ctx := context.Background()
	if r := runCLI(t, b, s, nil, nil, "keygen", "a", "--alg", "aes-256-gcm", "--rotation-period", "90d", "--json"); r.code != 0 ||
		!strings.Contains(r.stdout, `"encrypt"`) || !strings.Contains(r.stdout, `"rotation_period": 7776000`) {
		t.Fatalf("keygen --alg aes-256-gcm = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "keygen", "b", "--alg", "aes-256-gcm"); r.code != 0 {
		t.Fatalf("keygen b = %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "keygen", "x", "--alg", "aes-256-gcm", "--rotation-period", "soon"); r.code != 2 {
		t.Errorf("keygen --rotation-period soon = %d %q, want usage error 2", r.code, r.stderr)
	}

	// datakey: the plaintext key decrypts from its ciphertext.
	r := runCLI(t, b, s, nil, nil, "datakey", "a", "--bytes", "24", "--context", "app=x", "--json")
	var dk struct{ Plaintext, Ciphertext string }
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &dk) != nil || len(dk.Plaintext) != 32 {
		t.Fatalf("datakey --json = %d %q %q", r.code, r.stdout, r.stderr)
	}
	ct, _ := base64.StdEncoding.DecodeString(dk.Ciphertext)
	cl := dial(t, s)
	pt, err := cl.AEADDecrypt(ctx, ct, map[string]string{"app": "x"})
	if err != nil || base64.StdEncoding.EncodeToString(pt) != dk.Plaintext {
		t.Errorf("AEADDecrypt(datakey's ciphertext) = %x, %v; want %s", pt, err, dk.Plaintext)
	}
	if _, err := cl.AEADDecrypt(ctx, ct, nil); !errors.Is(err, client.ErrDecryptFailed) {
		t.Errorf("AEADDecrypt(without the context) = %v, want ErrDecryptFailed", err)
	}
	keyFile := filepath.Join(s.Dir, "dk.bin")
	if r := runCLI(t, b, s, nil, nil, "datakey", "a", "--no-plaintext", "--out", keyFile); r.code != 0 || r.stdout != "" {
		t.Errorf("datakey --no-plaintext --out = %d %q %q, want nothing printed", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32+113 {
		t.Errorf("datakey --out file = %v, %v; want 0600, %d bytes", fi, err, 32+113)
	}

	// reencrypt: a ciphertext of a moves to b with a new context.
	msg := []byte("move me")
	ct, err = cl.AEADEncrypt(ctx, "a", msg, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	in, out := filepath.Join(s.Dir, "in.bin"), filepath.Join(s.Dir, "out.bin")
	os.WriteFile(in, ct, 0o600)
	if r := runCLI(t, b, s, nil, nil, "reencrypt", "--in", in, "--context", "k=v", "--to", "b", "--to-context", "n=1", "--out", out); r.code != 0 {
		t.Fatalf("reencrypt = %d %q", r.code, r.stderr)
	}
	nct, _ := os.ReadFile(out)
	if pt, err := cl.AEADDecrypt(ctx, nct, map[string]string{"n": "1"}); err != nil || !bytes.Equal(pt, msg) {
		t.Errorf("AEADDecrypt(reencrypted) = %q, %v; want %q", pt, err, msg)
	}
	if r := runCLI(t, b, s, nil, nil, "reencrypt", "--in", in, "--to", "b", "--out", filepath.Join(s.Dir, "bad.bin")); r.code != 1 ||
		!strings.Contains(r.stderr, "DECRYPT_FAILED") {
		t.Errorf("reencrypt with a wrong context = %d %q, want exit 1 DECRYPT_FAILED", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, "bad.bin")); err == nil {
		t.Errorf("a failed reencrypt left its output file")
	}

	// versions: rotate, disable, min-version; show lists them.
	if r := runCLI(t, b, s, nil, nil, "rotate", "a"); r.code != 0 {
		t.Fatalf("rotate a = %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "key", "disable-version", "a", "1"); r.code != 0 || !strings.Contains(r.stdout, "version:   1, disabled") {
		t.Errorf("key disable-version a 1 = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if _, err := cl.AEADDecrypt(ctx, ct, map[string]string{"k": "v"}); !errors.Is(err, client.ErrKeyVersionDisabled) {
		t.Errorf("AEADDecrypt(version 1, disabled) = %v, want ErrKeyVersionDisabled", err)
	}
	if r := runCLI(t, b, s, nil, nil, "key", "disable-version", "a", "2"); r.code != 1 || !strings.Contains(r.stderr, "only enabled version") {
		t.Errorf("key disable-version of the only enabled version = %d %q, want exit 1 with the reason", r.code, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "key", "enable-version", "a", "1"); r.code != 0 {
		t.Errorf("key enable-version = %d %q", r.code, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "key", "min-version", "a", "2"); r.code != 0 || !strings.Contains(r.stdout, "min decryption version: 2") {
		t.Errorf("key min-version a 2 = %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "key", "rotation-period", "a", "0", "--json"); r.code != 0 || strings.Contains(r.stdout, "rotation_period") {
		t.Errorf("key rotation-period a 0 = %d %q %q, want no period", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "show", "a"); r.code != 0 || !strings.Contains(r.stdout, "version:   2, enabled") {
		t.Errorf("show a = %d %q, want both versions", r.code, r.stdout)
	}

	// The Tink-shaped AEAD: associated data is bound; another key's
	// ciphertext does not decrypt through it.
	ae := cl.AEAD("b")
	c1, err := ae.Encrypt([]byte("tink"), []byte("ad"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := ae.Decrypt(c1, []byte("ad")); err != nil || string(pt) != "tink" {
		t.Errorf("AEAD.Decrypt = %q, %v; want tink", pt, err)
	}
	if _, err := ae.Decrypt(c1, []byte("other")); !errors.Is(err, client.ErrDecryptFailed) {
		t.Errorf("AEAD.Decrypt(other associated data) = %v, want ErrDecryptFailed", err)
	}
	if _, err := cl.AEAD("a").Decrypt(c1, []byte("ad")); !errors.Is(err, client.ErrDecryptFailed) {
		t.Errorf("AEAD(a).Decrypt(b's ciphertext) = %v, want ErrDecryptFailed", err)
	}
	big := make([]byte, 1<<20)
	if _, err := cl.AEADEncrypt(ctx, "a", big, nil); !errors.Is(err, client.ErrFrameTooLarge) || !strings.Contains(err.Error(), "GenerateDataKey") {
		t.Errorf("AEADEncrypt(1 MiB) = %v, want ErrFrameTooLarge pointing at GenerateDataKey", err)
	}
}
