package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// notifications collects the sd_notify datagrams sent to a NOTIFY_SOCKET
// that the test owns, as systemd would.
type notifications struct {
	path string
	ch   chan string
	seen []string
}

func listenNotify(t *testing.T, dir string) *notifications {
	t.Helper()
	n := &notifications{path: filepath.Join(dir, "notify.sock"), ch: make(chan string, 64)}
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen NOTIFY_SOCKET: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := pc.Read(buf)
			if err != nil {
				close(n.ch)
				return
			}
			n.ch <- string(buf[:k])
		}
	}()
	return n
}

// expect waits for the next datagram that has line; the datagrams before
// it are kept for the failure message.
func (n *notifications) expect(t *testing.T, line string) string {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case msg, ok := <-n.ch:
			if !ok {
				t.Fatalf("NOTIFY_SOCKET closed waiting for %q; seen %q", line, n.seen)
			}
			n.seen = append(n.seen, msg)
			for _, l := range strings.Split(msg, "\n") {
				if l == line {
					return msg
				}
			}
		case <-timeout:
			t.Fatalf("no %q on NOTIFY_SOCKET within 60 s; seen %q", line, n.seen)
		}
	}
}

// TestSocketActivationAndNotify runs the real daemon under the real
// systemd-socket-activate, as the socket unit would: the first CLI
// connection starts it, and the test, as systemd, reads READY, STATUS,
// RELOADING and STOPPING on its own NOTIFY_SOCKET, in that order.
func TestSocketActivationAndNotify(t *testing.T) {
	swtpmtest.RequireTool(t, "systemd-socket-activate")
	swtpmtest.RequireTool(t, "openssl")
	sw := swtpmtest.Start(t)
	dir := t.TempDir()
	bins, err := e2e.Build(context.Background(), dir, "cmd/tpmkeyd", "cmd/tpmkey")
	if err != nil {
		t.Fatal(err)
	}
	tpmkeyd, tpmkey := bins[0], bins[1]
	notify := listenNotify(t, dir)
	sock := filepath.Join(dir, "tpmkeyd.sock")
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}

	var daemonLog bytes.Buffer
	act := exec.Command("systemd-socket-activate", "-l", sock, "-E", "NOTIFY_SOCKET="+notify.path,
		tpmkeyd, "--tpm", sw.Spec(), "--state-dir", state)
	act.Stderr, act.Stdout = &daemonLog, &daemonLog
	if err := act.Start(); err != nil {
		t.Fatalf("systemd-socket-activate: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- act.Wait() }()
	t.Cleanup(func() {
		act.Process.Kill()
		if t.Failed() {
			t.Logf("daemon log:\n%s", daemonLog.String())
		}
	})
	waitForSocket(t, sock)

	cli := func(args ...string) []byte {
		t.Helper()
		c := exec.Command(tpmkey, append([]string{"--socket", sock}, args...)...)
		c.Env = append(os.Environ(), "TPMKEY_TRUST_SERVER_UID="+strconv.Itoa(os.Getuid()))
		c.Dir = dir
		out, err := c.Output()
		if err != nil {
			t.Fatalf("tpmkey %v: %v\n%s", args, err, errText(err))
		}
		return out
	}
	// The first connection starts tpmkeyd (exec'd in place, same pid).
	cli("keygen", "activated", "--alg", "ec-p256")
	ready := notify.expect(t, "READY=1")
	if !strings.Contains(ready, "STATUS=") {
		t.Errorf("READY datagram = %q, want a STATUS= line with it", ready)
	}
	os.WriteFile(filepath.Join(dir, "msg"), []byte("activated by the socket\n"), 0o600)
	cli("sign", "activated", "--in", "msg", "--out", "msg.sig")
	os.WriteFile(filepath.Join(dir, "pub.pem"), cli("pubkey", "activated"), 0o600)
	v := exec.Command("openssl", "dgst", "-sha256", "-verify", "pub.pem", "-signature", "msg.sig", "msg")
	v.Dir = dir
	if out, err := v.CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
		t.Errorf("openssl dgst -verify = %q, %v, want Verified OK", out, err)
	}

	// systemctl reload sends SIGHUP (ExecReload=).
	act.Process.Signal(syscall.SIGHUP)
	notify.expect(t, "RELOADING=1")
	notify.expect(t, "READY=1")
	cli("list")

	act.Process.Signal(syscall.SIGTERM)
	notify.expect(t, "STOPPING=1")
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("tpmkeyd exit = %v, want a clean exit", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("tpmkeyd did not exit within 30 s of SIGTERM")
	}
	// The socket belongs to the activator: the daemon leaves it alone.
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("activated socket after exit: %v, want it left in place", err)
	}
	sw.AssertNoTransients()
}

func waitForSocket(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("socket %s did not appear within 30 s", path)
		}
		time.Sleep(delay)
	}
}

func errText(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
