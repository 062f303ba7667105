package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// postrmPaths are the system paths postrm touches; the test moves them
// under a temporary root.
var postrmPaths = []string{"/var/lib/tpmkeyd", "/etc/tpmkeyd", "/run/tpmkeyd"}

// runPostrm runs debian/postrm with args against root instead of /, with
// stub deb-systemd-helper and systemctl that only record their calls.
func runPostrm(t *testing.T, root string, args ...string) (stderr, calls string) {
	t.Helper()
	script, err := os.ReadFile("debian/postrm")
	if err != nil {
		t.Fatal(err)
	}
	s := string(script)
	for _, p := range postrmPaths {
		s = strings.ReplaceAll(s, p, root+p)
	}
	for _, p := range postrmPaths {
		if strings.Contains(strings.ReplaceAll(s, root+p, ""), p) {
			t.Fatalf("rewritten postrm still names %s", p)
		}
	}
	bin := filepath.Join(root, "bin")
	log := filepath.Join(root, "calls.log")
	for _, tool := range []string{"deb-systemd-helper", "systemctl"} {
		stub := "#!/bin/sh\necho " + tool + " \"$@\" >> " + log + "\n"
		writeFile(t, filepath.Join(bin, tool), stub, 0o755)
	}
	path := filepath.Join(root, "postrm")
	writeFile(t, path, s, 0o755)
	cmd := exec.Command("sh", append([]string{path}, args...)...)
	// The stubs come first, so the host's real helpers are never run.
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("postrm %v: %v\n%s", args, err, errb.String())
	}
	b, _ := os.ReadFile(log)
	return errb.String(), string(b)
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// TestPostrmPurge: purge removes a state directory that holds no key
// records (integrity.key alone is not one) and keeps one that does.
func TestPostrmPurge(t *testing.T) {
	tests := []struct {
		name      string
		files     []string // under /var/lib/tpmkeyd
		wantKept  bool
		wantNotes string
	}{
		{"integrity-key-only", []string{"integrity.key"}, false, ""},
		{"empty-uid-directories", []string{"integrity.key", "keys/0/", "keys/1000/"}, false, ""},
		{"no-state-directory", nil, false, ""},
		{"a-key-record", []string{"integrity.key", "keys/1000/web.key"}, true, "it holds key records"},
		{"a-record-of-root", []string{"integrity.key", "keys/0/db-password.key", "keys/1000/"}, true, "it holds key records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			state := filepath.Join(root, "var/lib/tpmkeyd")
			for _, f := range tt.files {
				if strings.HasSuffix(f, "/") {
					os.MkdirAll(filepath.Join(state, f), 0o700)
				} else {
					writeFile(t, filepath.Join(state, f), "x", 0o600)
				}
			}
			writeFile(t, filepath.Join(root, "etc/tpmkeyd/owner-password"), "pw", 0o600)
			writeFile(t, filepath.Join(root, "run/tpmkeyd/tpmkeyd.sock"), "", 0o666)

			stderr, calls := runPostrm(t, root, "purge")
			_, err := os.Stat(state)
			if kept := err == nil; kept != (tt.wantKept && tt.files != nil) {
				t.Errorf("postrm purge: state directory kept = %v, want %v", kept, tt.wantKept)
			}
			if !strings.Contains(stderr, tt.wantNotes) || (tt.wantNotes == "" && stderr != "") {
				t.Errorf("postrm purge stderr = %q, want %q", stderr, tt.wantNotes)
			}
			for _, gone := range []string{"etc/tpmkeyd", "run/tpmkeyd"} {
				if _, err := os.Stat(filepath.Join(root, gone)); err == nil {
					t.Errorf("postrm purge left /%s", gone)
				}
			}
			if want := "deb-systemd-helper purge tpmkeyd.socket\ndeb-systemd-helper unmask tpmkeyd.socket\n" +
				"deb-systemd-helper purge tpmkeyd-ssh.socket\ndeb-systemd-helper unmask tpmkeyd-ssh.socket\n" +
				"deb-systemd-helper purge tpmkeyd-pkcs11.socket\ndeb-systemd-helper unmask tpmkeyd-pkcs11.socket\n"; calls != want {
				t.Errorf("postrm purge called %q, want %q", calls, want)
			}
		})
	}
}

// TestPostrmRemoveKeepsState: a plain remove leaves the state alone.
func TestPostrmRemoveKeepsState(t *testing.T) {
	root := t.TempDir()
	state := filepath.Join(root, "var/lib/tpmkeyd")
	writeFile(t, filepath.Join(state, "integrity.key"), "x", 0o600)
	runPostrm(t, root, "remove")
	if _, err := os.Stat(filepath.Join(state, "integrity.key")); err != nil {
		t.Errorf("postrm remove: integrity.key = %v, want it kept", err)
	}
}
