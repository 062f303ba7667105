package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
)

// cliResult is what one run of the tpmkey binary did.
type cliResult struct {
	stdout, stderr string
	code           int
}

// runCLI runs the tpmkey binary against s, as cred's uid when cred is set.
func runCLI(t *testing.T, b *binaries, s *e2e.Stack, cred *syscall.Credential, stdin []byte, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.tpmkey, args...)
	cmd.Env = append(os.Environ(), client.SocketEnv+"="+s.Socket)
	cmd.Dir = s.Dir
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("tpmkey %v: %v", args, err)
	}
	return res
}

// dial connects a client to s for the test.
func dial(t *testing.T, s *e2e.Stack) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), s.Socket, client.WithTrustSameUser())
	if err != nil {
		t.Fatalf("client.Dial(%s) = %v\ndaemon log:\n%s", s.Socket, err, s.Daemon.Log())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// restart stops the daemon gracefully and starts it again.
func restart(t *testing.T, s *e2e.Stack) {
	t.Helper()
	if err := s.StopDaemon(); err != nil {
		t.Fatalf("StopDaemon: %v", err)
	}
	if err := s.StartDaemon(context.Background()); err != nil {
		t.Fatalf("StartDaemon: %v", err)
	}
}

// writeConfig writes a tpmkeyd TOML config and returns its path.
func writeConfig(t *testing.T, toml string) string {
	t.Helper()
	path := t.TempDir() + "/tpmkeyd.toml"
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
