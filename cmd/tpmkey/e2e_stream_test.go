package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStreamFiles runs the real CLI on files of several segments against
// the real daemon: the output is mode 0600, the Go client reads what the
// CLI wrote and the other way round, and a decrypt of an altered or cut
// stream fails with DECRYPT_FAILED, leaving no output file (or the old one
// as it was) and no temporary file, and so does a reencrypt of it; another
// uid gets KEY_NOT_FOUND.
func TestStreamFiles(t *testing.T) {
	s, _, b := startStack(t)
	ctx := context.Background()
	if r := runCLI(t, b, s, nil, nil, "keygen", "k", "--alg", "aes-256-gcm"); r.code != 0 {
		t.Fatalf("keygen --alg aes-256-gcm = %d %q", r.code, r.stderr)
	}
	dir := t.TempDir()
	path := func(name string) string { return filepath.Join(dir, name) }
	pt := make([]byte, 3<<20+1) // 49 segments, the last of one byte
	rand.Read(pt)
	if err := os.WriteFile(path("pt"), pt, 0o644); err != nil {
		t.Fatal(err)
	}
	dataKeys := func() int { return strings.Count(s.Daemon.Log(), "op=GenerateDataKey") }
	before := dataKeys()
	if r := runCLI(t, b, s, nil, nil, "encrypt", "k", "--context", "f=pt", "--in", path("pt"), "--out", path("ct")); r.code != 0 {
		t.Fatalf("encrypt = %d %q", r.code, r.stderr)
	}
	// The audit record is written after the answer: wait for it.
	s.Daemon.WaitLog(5*time.Second, func(string) bool { return dataKeys() > before })
	if n := dataKeys() - before; n != 1 {
		t.Errorf("GenerateDataKey requests in the audit log for one encrypt of 49 segments = %d, want 1", n)
	}
	if r := runCLI(t, b, s, nil, nil, "decrypt", "--context", "f=pt", "--in", path("ct"), "--out", path("out")); r.code != 0 {
		t.Fatalf("decrypt = %d %q", r.code, r.stderr)
	}
	for _, name := range []string{"ct", "out"} {
		fi, err := os.Stat(path(name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("mode of %s = %v, %v; want 0600", name, fi.Mode().Perm(), err)
		}
	}
	if got, _ := os.ReadFile(path("out")); !bytes.Equal(got, pt) {
		t.Errorf("decrypt(encrypt(3 MiB + 1)) = %d bytes, want the plaintext", len(got))
	}

	cl := dial(t, s)
	ct, _ := os.ReadFile(path("ct"))
	var got bytes.Buffer
	if _, err := cl.DecryptStream(ctx, map[string]string{"f": "pt"}, &got, bytes.NewReader(ct)); err != nil || !bytes.Equal(got.Bytes(), pt) {
		t.Errorf("client.DecryptStream(the CLI's stream) = %d bytes, %v; want the plaintext", got.Len(), err)
	}
	var goCT bytes.Buffer
	if _, err := cl.EncryptStream(ctx, "k", nil, &goCT, bytes.NewReader(pt[:100000])); err != nil {
		t.Fatalf("client.EncryptStream = %v", err)
	}
	os.WriteFile(path("goct"), goCT.Bytes(), 0o600)
	if r := runCLI(t, b, s, nil, nil, "decrypt", "k", "--in", path("goct"), "--out", path("goout")); r.code != 0 {
		t.Errorf("decrypt(client.EncryptStream's stream) = %d %q", r.code, r.stderr)
	} else if got, _ := os.ReadFile(path("goout")); !bytes.Equal(got, pt[:100000]) {
		t.Errorf("decrypt(client.EncryptStream's stream) = %d bytes, want the plaintext", len(got))
	}

	flipped := bytes.Clone(ct)
	flipped[len(ct)-70000] ^= 1 // in the last full segment
	bad := []struct {
		name string
		ct   []byte
	}{
		{"flipped-byte", flipped},
		{"cut-at-segment", ct[:len(ct)-(1+16)]},
		{"cut-mid-segment", ct[:len(ct)/2]},
		{"appended", append(bytes.Clone(ct), 0)},
	}
	os.WriteFile(path("old"), []byte("old content"), 0o644)
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			in := path(tc.name)
			os.WriteFile(in, tc.ct, 0o600)
			r := runCLI(t, b, s, nil, nil, "decrypt", "--context", "f=pt", "--in", in, "--out", path(tc.name+".out"))
			if r.code != 1 || !strings.HasPrefix(r.stderr, "tpmkey: DECRYPT_FAILED: ") {
				t.Errorf("decrypt(%s) = %d %q, want exit 1 DECRYPT_FAILED", tc.name, r.code, r.stderr)
			}
			if _, err := os.Lstat(path(tc.name + ".out")); !os.IsNotExist(err) {
				t.Errorf("after a failed decrypt, Lstat(output) = %v, want it absent", err)
			}
			r = runCLI(t, b, s, nil, nil, "reencrypt", "--context", "f=pt", "--to", "k", "--in", in, "--out", path(tc.name+".re"))
			if _, err := os.Lstat(path(tc.name + ".re")); r.code != 1 || !os.IsNotExist(err) {
				t.Errorf("reencrypt(%s) = %d %q, Lstat(output) = %v; want exit 1 and no output", tc.name, r.code, r.stderr, err)
			}
			r = runCLI(t, b, s, nil, nil, "decrypt", "--context", "f=pt", "--in", in, "--out", path("old"))
			if got, _ := os.ReadFile(path("old")); r.code != 1 || string(got) != "old content" {
				t.Errorf("decrypt(%s) over an existing file = %d, file %q; want exit 1 and the file unchanged", tc.name, r.code, got)
			}
		})
	}
	if os.Getuid() == 0 { // another uid cannot unwrap root's stream: its key is not found
		r := runCLI(t, b, s, &syscall.Credential{Uid: nobody, Gid: nobody}, ct, "decrypt", "--context", "f=pt")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "tpmkey: KEY_NOT_FOUND: ") || r.stdout != "" {
			t.Errorf("decrypt of root's stream as nobody = %d, %d bytes out, %q; want exit 1 KEY_NOT_FOUND and no output", r.code, len(r.stdout), r.stderr)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left in the output directory", e.Name())
		}
	}
}
