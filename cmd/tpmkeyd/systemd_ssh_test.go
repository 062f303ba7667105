package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// TestSocketActivationSSHSocket passes the daemon two sockets, named as
// tpmkeyd.socket and tpmkeyd-ssh.socket name them (FileDescriptorName=),
// the ssh-agent one first: the daemon serves its protocol on the one and
// the ssh-agent protocol on the other, started by a connection to either.
func TestSocketActivationSSHSocket(t *testing.T) {
	swtpmtest.RequireTool(t, "systemd-socket-activate")
	sw := swtpmtest.Start(t)
	dir := t.TempDir()
	bins, err := e2e.Build(context.Background(), dir, "cmd/tpmkeyd", "cmd/tpmkey")
	if err != nil {
		t.Fatal(err)
	}
	tpmkeyd, tpmkey := bins[0], bins[1]
	sock, sshSock := filepath.Join(dir, "tpmkeyd.sock"), filepath.Join(dir, "ssh-agent.sock")
	state := filepath.Join(dir, "state")
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}
	var daemonLog bytes.Buffer
	act := exec.Command("systemd-socket-activate", "-l", sshSock, "-l", sock, "--fdname=ssh-agent:tpmkeyd.socket",
		tpmkeyd, "--tpm", sw.Spec(), "--state-dir", state)
	act.Stderr, act.Stdout = &daemonLog, &daemonLog
	if err := act.Start(); err != nil {
		t.Fatalf("systemd-socket-activate: %v", err)
	}
	t.Cleanup(func() {
		act.Process.Kill()
		act.Wait()
		if t.Failed() {
			t.Logf("daemon log:\n%s", daemonLog.String())
		}
	})
	waitForSocket(t, sock)
	waitForSocket(t, sshSock)

	nc, err := net.Dial("unix", sshSock) // starts the daemon
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ag := agent.NewClient(nc)
	if keys, err := ag.List(); err != nil || len(keys) != 0 {
		t.Fatalf("List() on a fresh daemon = %d keys, %v, want 0, nil", len(keys), err)
	}
	c := exec.Command(tpmkey, "--socket", sock, "keygen", "k", "--alg", "ec-p256", "--ssh", "--comment", "activated")
	c.Env = append(os.Environ(), "TPMKEY_TRUST_SERVER_UID="+strconv.Itoa(os.Getuid()))
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("tpmkey keygen --ssh: %v\n%s", err, out)
	}
	keys, err := ag.List()
	if err != nil || len(keys) != 1 || keys[0].Comment != "activated" {
		t.Fatalf("List() = %v, %v, want the one key marked for ssh", keys, err)
	}
	sig, err := ag.Sign(keys[0], []byte("data"))
	if err != nil {
		t.Fatalf("Sign() = %v", err)
	}
	if err := keys[0].Verify([]byte("data"), sig); err != nil {
		t.Errorf("Verify(Sign()) = %v, want nil", err)
	}
}
