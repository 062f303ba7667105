package tpm

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// startUnixSwtpm runs swtpm on a unixio socket (the harness serves TCP
// only) and returns its socket path once it accepts connections.
func startUnixSwtpm(t *testing.T) string {
	t.Helper()
	swtpmtest.RequireSwtpm(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "tpm.sock")
	cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+dir,
		"--server", "type=unixio,path="+sock, "--ctrl", "type=unixio,path="+sock+".ctrl",
		"--flags", "not-need-init,startup-clear")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		// The socket file appears at bind, before swtpm listens: only a
		// connection that succeeds says it is ready.
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
				return sock
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("swtpm socket %s did not appear", sock)
		}
		time.Sleep(delay)
	}
}

func TestUnixSocketSpec(t *testing.T) {
	sock := startUnixSwtpm(t)
	tp, err := OpenSpec(context.Background(), "swtpm:unix://"+sock, Options{StateDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(swtpm:unix://) = %v", err)
	}
	defer tp.Close()
	k := makeSignKeys(t, tp, 4)
	for _, key := range k {
		if err := key.signAndVerify(tp, "unix"); err != nil {
			t.Errorf("Sign() over unix socket = %v", err)
		}
	}
}
