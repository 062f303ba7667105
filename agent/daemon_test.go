//go:build linux

package agent

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestGracefulStop uses more keys than the TPM has slots, stops the daemon
// with a keygen in flight, and finds no transient handle left on the TPM.
func TestGracefulStop(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	digest := sha256.Sum256([]byte("x"))
	for _, alias := range []string{"k1", "k2", "k3", "k4", "k5"} {
		if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: alias, Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
			t.Fatalf("GenerateKey(%s) = %v (%s)", alias, st, msg)
		}
		if st, msg := c.call(protocol.OpSign, &protocol.SignRequest{Alias: alias, Digest: digest[:], Hash: "sha256"}, nil); st != protocol.StatusOK {
			t.Fatalf("Sign(%s) = %v (%s)", alias, st, msg)
		}
	}
	id := c.send(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "late", Algorithm: protocol.AlgRSA2048})
	time.Sleep(20 * time.Millisecond) // let the reader pick it up; the outcome does not depend on it
	if err := td.stop(); err != nil {
		t.Fatalf("Run = %v, want nil after Stop", err)
	}
	if h, _, err := c.recv(); err == nil && (h.ID != id || h.Status != protocol.StatusOK) {
		t.Errorf("in-flight keygen answered %v (id %d), want OK (id %d)", h.Status, h.ID, id)
	}
	c.expectClosed()
	td.sw.AssertNoTransients()
	if _, err := os.Lstat(td.socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after stop: Lstat = %v, want not exist", err)
	}
}

func TestRestartKeepsKeys(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v (%s)", st, msg)
	}
	td.stop()
	td2 := runDaemon(t, td.sw, td.opts, td.logs, td.audit)
	c2 := dialHello(t, td2.socket)
	if st, msg := c2.call(protocol.OpSign, &protocol.SignRequest{Alias: "k", Message: []byte("m"), Hash: "sha256"}, nil); st != protocol.StatusOK {
		t.Errorf("Sign after restart = %v (%s), want OK", st, msg)
	}
}

// TestSecondDaemonFails starts a second daemon on the same state
// directory, then on the same socket: each fails at once, with
// ErrAlreadyRunning, without touching the first one's files.
func TestSecondDaemonFails(t *testing.T) {
	td := startDaemon(t, "")
	other := shortDir(t)
	tests := []struct {
		name     string
		stateDir string
		socket   string
	}{
		{"same-state-dir", td.opts.StateDir, filepath.Join(other, "other.sock")},
		{"same-socket", filepath.Join(other, "state"), td.socket},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := td.opts
			opts.StateDir, opts.SocketPath = tc.stateDir, tc.socket
			d, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
				t.Errorf("second Run = %v, want ErrAlreadyRunning", err)
			}
		})
	}
	c := dialHello(t, td.socket)
	if st, _ := c.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != protocol.StatusOK {
		t.Errorf("first daemon after the attempts: Status = %v, want OK", st)
	}
}

func TestStartupChecks(t *testing.T) {
	dir := shortDir(t)
	unsafe := filepath.Join(dir, "unsafe")
	if err := os.Mkdir(unsafe, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chmod(unsafe, 0o777)
	notSocket := filepath.Join(dir, "file")
	writeFile(t, notSocket, "x")
	tests := []struct {
		name     string
		stateDir string
		socket   string
		want     error
	}{
		{"world-writable-state-dir", unsafe, filepath.Join(dir, "a.sock"), ErrUnsafeStateDir},
		{"socket-path-is-a-file", filepath.Join(dir, "s1"), notSocket, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Options{TPMSpec: "swtpm:tcp://127.0.0.1:1", StateDir: tc.stateDir, SocketPath: tc.socket})
			if err != nil {
				t.Fatal(err)
			}
			err = d.Run(context.Background())
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Run = %v, want %v", err, tc.want)
			}
		})
	}
	if b, _ := os.ReadFile(notSocket); string(b) != "x" {
		t.Errorf("a file at the socket path was changed to %q", b)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "s.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // a crashed daemon's socket: the file stays, nobody listens
	l, err := createSocket(path, 0o660, "")
	if err != nil {
		t.Fatalf("createSocket over a stale socket = %v, want nil", err)
	}
	defer l.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v (%v), want 0660", fi.Mode().Perm(), err)
	}
	l.remove()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after remove: Lstat = %v, want not exist", err)
	}
}

// TestAuditRecords checks one record per request, with the fixed keys and
// no secret.
func TestAuditRecords(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	pin := "pin-4711-secret"
	c.call(protocol.OpSeal, &protocol.SealRequest{Alias: "s", Secret: []byte("plaintext-4711"), PIN: []byte(pin)}, nil)
	c.call(protocol.OpUnseal, &protocol.UnsealRequest{Alias: "s", PIN: []byte(pin)}, nil)
	c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "missing"}, nil)
	td.stop()
	lines := td.audit.auditLines(t)
	if len(lines) != 4 {
		t.Fatalf("audit records = %d, want 4 (Hello, Seal, Unseal, GetKey):\n%s", len(lines), td.audit)
	}
	// A record is written after its response, so records of requests that
	// follow each other may swap: find each by its op.
	byOp := map[any]map[string]any{}
	for _, l := range lines {
		byOp[l["op"]] = l
	}
	seal := byOp["Seal"]
	for _, key := range []string{"op", "uid", "gid", "pid", "comm", "alias", "key_id", "status", "dur"} {
		if _, ok := seal[key]; !ok {
			t.Errorf("audit record %v lacks %q", seal, key)
		}
	}
	if got := []any{seal["alias"], seal["status"]}; got[0] != "s" || got[1] != "OK" {
		t.Errorf("Seal audit (alias, status) = %v, want [s OK]", got)
	}
	for _, op := range []string{"Hello", "Unseal", "GetKey"} {
		if byOp[op] == nil {
			t.Errorf("no audit record for %s in %v", op, lines)
		}
	}
	if got := byOp["GetKey"]["status"]; got != "KEY_NOT_FOUND" {
		t.Errorf("GetKey(missing) audit status = %v, want KEY_NOT_FOUND", got)
	}
	all := td.audit.String() + td.logs.String()
	for _, secret := range []string{pin, "plaintext-4711"} {
		if strings.Contains(all, secret) {
			t.Errorf("logs contain the secret %q", secret)
		}
	}
}
