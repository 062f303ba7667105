package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// nobody is the uid the cross-uid test runs the CLI as.
const nobody = 65534

// TestCrossUIDIsolation runs the CLI as uid 65534 against a root-owned
// daemon: root's keys are invisible and unusable (KEY_NOT_FOUND), admin
// flags are refused, and nobody's own keys work.
func TestCrossUIDIsolation(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test must run there")
		}
		t.Skip("needs root to run the CLI as another uid")
	}
	s, _, b := startStack(t)
	root := dial(t, s)
	ctx := context.Background()
	if _, err := root.GenerateKey(ctx, "rootkey", client.AlgECP256); err != nil {
		t.Fatalf("GenerateKey(rootkey) = %v", err)
	}
	cred := &syscall.Credential{Uid: nobody, Gid: nobody}
	sigFile := filepath.Join(s.Dir, "any.sig") // readable by nobody
	if err := os.WriteFile(sigFile, []byte{0x30, 0x00}, 0o644); err != nil {
		t.Fatal(err)
	}
	notFound := []struct {
		name string
		args []string
	}{
		{"show", []string{"show", "rootkey"}},
		{"pubkey", []string{"pubkey", "rootkey"}},
		{"sign", []string{"sign", "rootkey"}},
		{"verify", []string{"verify", "rootkey", "--sig", sigFile}},
		{"unseal", []string{"unseal", "rootkey"}},
		{"rm", []string{"rm", "rootkey"}},
	}
	for _, tt := range notFound {
		t.Run("not-found-"+tt.name, func(t *testing.T) {
			r := runCLI(t, b, s, cred, []byte("data"), tt.args...)
			if r.code != 1 || !strings.HasPrefix(r.stderr, "tpmkey: KEY_NOT_FOUND: ") {
				t.Errorf("tpmkey %v as nobody = %d %q, want exit 1 KEY_NOT_FOUND", tt.args, r.code, r.stderr)
			}
		})
	}
	denied := [][]string{{"list", "--uid", "0"}, {"rm", "rootkey", "--uid", "0"}}
	for _, args := range denied {
		r := runCLI(t, b, s, cred, nil, args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "tpmkey: PERMISSION_DENIED: ") {
			t.Errorf("tpmkey %v as nobody = %d %q, want exit 1 PERMISSION_DENIED", args, r.code, r.stderr)
		}
	}
	if r := runCLI(t, b, s, cred, nil, "list", "--json"); r.code != 0 || strings.Contains(r.stdout, "rootkey") {
		t.Errorf("tpmkey list as nobody = %d %q %q, want success without rootkey", r.code, r.stdout, r.stderr)
	}

	// nobody's own keys work, even under an alias root also uses.
	for _, alias := range []string{"mine", "rootkey"} {
		if r := runCLI(t, b, s, cred, nil, "keygen", alias, "--alg", "ec-p256", "--json"); r.code != 0 ||
			!strings.Contains(r.stdout, `"owner_uid": 65534`) {
			t.Fatalf("keygen %s as nobody = %d %q %q", alias, r.code, r.stdout, r.stderr)
		}
		if r := runCLI(t, b, s, cred, []byte("msg"), "sign", alias); r.code != 0 || r.stdout == "" {
			t.Fatalf("sign %s as nobody = %d %q", alias, r.code, r.stderr)
		}
	}

	// Root's view: its own rootkey is intact, nobody's keys only via ForUID.
	k, err := root.Key(ctx, "rootkey")
	if err != nil || k.OwnerUID != 0 {
		t.Fatalf("root Key(rootkey) = %+v, %v, want root's own key", k, err)
	}
	if _, err := root.Key(ctx, "mine"); !errors.Is(err, client.ErrKeyNotFound) {
		t.Errorf("root Key(mine) = %v, want KEY_NOT_FOUND", err)
	}
	n := 0
	for k, err := range root.Keys(ctx, client.ForUID(nobody)) {
		if err != nil {
			t.Fatalf("root Keys(ForUID(nobody)) = %v", err)
		}
		if k.OwnerUID != nobody {
			t.Errorf("Keys(ForUID(nobody)) gave %s of uid %d", k.Alias, k.OwnerUID)
		}
		n++
	}
	if n != 2 {
		t.Errorf("Keys(ForUID(nobody)) listed %d keys, want 2", n)
	}
	if err := root.DeleteKey(ctx, "mine", client.ForUID(nobody)); err != nil {
		t.Errorf("root DeleteKey(mine, ForUID(nobody)) = %v", err)
	}
	if r := runCLI(t, b, s, cred, nil, "show", "mine"); r.code != 1 {
		t.Errorf("show mine as nobody after root deleted it = %d %q, want KEY_NOT_FOUND", r.code, r.stderr)
	}
}
