package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// StopTimeout bounds a graceful stop of the daemon.
const StopTimeout = 30 * time.Second

// Stack is a swtpm and a tpmkeyd serving on a socket in Dir. Dir is 0755 and
// its socket 0666, so other uids can reach the daemon.
type Stack struct {
	Dir      string // holds the socket and the state
	StateDir string
	Socket   string
	TPM      *swtpmtest.Process
	Daemon   *Daemon // nil while stopped

	bin  string
	args []string
	own  bool // the stack launched TPM itself, so Close kills it
}

// newStack prepares the directories of a stack.
func newStack(bin string, tpm *swtpmtest.Process, args []string) (*Stack, error) {
	dir, err := os.MkdirTemp("", "tpmkeyd-e2e")
	if err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	return &Stack{
		Dir: dir, StateDir: filepath.Join(dir, "state"), Socket: filepath.Join(dir, "tpmkeyd.sock"),
		TPM: tpm, bin: bin, args: args,
	}, nil
}

// LaunchStack starts a swtpm and tpmkeyd (the binary bin, with extra args)
// outside a test, for TestMain and benchmarks. Close ends both.
func LaunchStack(ctx context.Context, bin string, args ...string) (*Stack, error) {
	s, err := newStack(bin, nil, args)
	if err != nil {
		return nil, err
	}
	s.TPM, err = swtpmtest.Launch(ctx, swtpmtest.Config{StateDir: filepath.Join(s.Dir, "swtpm")})
	if err != nil {
		os.RemoveAll(s.Dir)
		return nil, err
	}
	s.own = true
	if err := s.TPM.SetLockout(swtpmtest.ChipLockoutTries, time.Hour, time.Hour); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.StartDaemon(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// StartStack is LaunchStack for one test, on a swtpm from swtpmtest.Start;
// it is torn down in t.Cleanup.
func StartStack(t testing.TB, bin string, args ...string) (*Stack, *swtpmtest.Instance) {
	t.Helper()
	sw := swtpmtest.Start(t)
	s, err := newStack(bin, sw.Process, args)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	sw.SetLockout(swtpmtest.ChipLockoutTries, time.Hour, time.Hour)
	if err := s.StartDaemon(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, sw
}

// StartDaemon starts tpmkeyd on the stack's TPM, state and socket.
func (s *Stack) StartDaemon(ctx context.Context) error {
	if s.Daemon != nil && s.Daemon.Running() {
		return errors.New("e2e: tpmkeyd is already running")
	}
	d, err := StartDaemon(ctx, DaemonConfig{
		Bin: s.bin, TPM: s.TPM.Spec(), StateDir: s.StateDir, Socket: s.Socket,
		Args: append([]string{"--socket-mode", "0666"}, s.args...),
	})
	if err != nil {
		return err
	}
	s.Daemon = d
	return nil
}

// StopDaemon stops tpmkeyd gracefully (SIGTERM) and reports an unclean exit.
func (s *Stack) StopDaemon() error {
	if s.Daemon == nil {
		return nil
	}
	err := s.Daemon.Stop(StopTimeout)
	if err != nil {
		err = fmt.Errorf("%w; log:\n%s", err, s.Daemon.Log())
	}
	return err
}

// Close kills the daemon, the swtpm if the stack launched it, and removes
// Dir.
func (s *Stack) Close() {
	if s.Daemon != nil {
		s.Daemon.Kill()
	}
	if s.own && s.TPM != nil {
		s.TPM.Close()
	}
	os.RemoveAll(s.Dir)
}
