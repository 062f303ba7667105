package swtpmtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/tcp"
)

// ErrNoSwtpm means the swtpm binary is not installed.
var ErrNoSwtpm = errors.New("swtpmtest: swtpm not found in PATH (apt-get install swtpm swtpm-tools)")

// Config describes one swtpm instance.
type Config struct {
	// StateDir holds the TPM state. Required.
	StateDir string
	// ExtraFlags are appended to the swtpm command line.
	ExtraFlags []string
	// Log, if set, receives swtpm's stdout and stderr.
	Log *os.File
}

// Process is a running swtpm on 127.0.0.1:Port (control on Port+1).
type Process struct {
	cfg  Config
	Port int
	cmd  *exec.Cmd
	done chan struct{}
}

// Spec is the tpm.Open spec string for this instance.
func (p *Process) Spec() string { return fmt.Sprintf("swtpm:tcp://127.0.0.1:%d", p.Port) }

// TCTI is the TPM2TOOLS_TCTI value for tpm2-tools.
func (p *Process) TCTI() string { return fmt.Sprintf("swtpm:host=127.0.0.1,port=%d", p.Port) }

// StateDir is the directory that holds the TPM state.
func (p *Process) StateDir() string { return p.cfg.StateDir }

// Launch starts swtpm and waits, by polling, until it answers a command.
func Launch(ctx context.Context, cfg Config) (*Process, error) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		return nil, ErrNoSwtpm
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("swtpmtest: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePortPair()
		if err != nil {
			return nil, err
		}
		p := &Process{cfg: cfg, Port: port}
		if lastErr = p.start(ctx); lastErr == nil {
			return p, nil
		}
	}
	return nil, lastErr
}

func (p *Process) start(ctx context.Context) error {
	args := []string{"socket", "--tpm2",
		"--tpmstate", "dir=" + p.cfg.StateDir,
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p.Port),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", p.Port+1),
		"--flags", "not-need-init,startup-clear",
	}
	args = append(args, p.cfg.ExtraFlags...)
	cmd := exec.Command("swtpm", args...)
	cmd.Stdout, cmd.Stderr = p.cfg.Log, p.cfg.Log
	// Die with the parent, so an aborted test run leaves no swtpm behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("swtpmtest: start swtpm: %w", err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p.waitReady(ctx)
}

// waitReady polls until swtpm answers TPM2_GetRandom, or gives up after 10 s.
func (p *Process) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	delay := 2 * time.Millisecond
	for {
		select {
		case <-p.done:
			return fmt.Errorf("swtpmtest: swtpm exited before it was ready (port %d)", p.Port)
		default:
		}
		tr, err := p.Open()
		if err == nil {
			_, err = tpm2.GetRandom{BytesRequested: 1}.Execute(tr)
			tr.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			p.kill()
			return fmt.Errorf("swtpmtest: swtpm not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// Open opens a new transport to this swtpm. swtpm serves one client at a
// time: close it before anything else connects.
func (p *Process) Open() (transport.TPMCloser, error) {
	return tcp.Open(tcp.Config{
		CommandAddress:  net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)),
		PlatformAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port+1)),
	})
}

// Restart stops swtpm and starts it again on the same state and ports.
func (p *Process) Restart(ctx context.Context) error {
	p.kill()
	return p.start(ctx)
}

// Wipe stops swtpm, deletes its state (a brand-new TPM) and starts it again.
func (p *Process) Wipe(ctx context.Context) error {
	p.kill()
	entries, err := os.ReadDir(p.cfg.StateDir)
	if err != nil {
		return fmt.Errorf("swtpmtest: wipe: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(p.cfg.StateDir, e.Name())); err != nil {
			return fmt.Errorf("swtpmtest: wipe: %w", err)
		}
	}
	return p.start(ctx)
}

// Close stops swtpm. The state directory is left for the caller.
func (p *Process) Close() error {
	p.kill()
	return nil
}

func (p *Process) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	// SIGTERM lets swtpm save its volatile state; fall back to SIGKILL.
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// freePortPair finds P such that P and P+1 are free on 127.0.0.1.
func freePortPair() (int, error) {
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("swtpmtest: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		l.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("swtpmtest: no free port pair")
}

// OpenSpecTCP opens a go-tpm transport to a swtpm (or a Tap) on port and
// port+1 of 127.0.0.1.
func OpenSpecTCP(port int) (transport.TPMCloser, error) {
	return (&Process{Port: port}).Open()
}

// ChipLockoutTries is the dictionary-attack setting of a typical TPM chip (32
// tries, one forgiven per hour), which the e2e stacks use. swtpm's own
// default is 3 tries: with that, one caller's share of wrong PINs is one
// (agent/core's pinGuard), and a test that gives a wrong PIN and then the
// right one would be refused the right one.
const ChipLockoutTries = 32

// SetLockout sets the TPM's dictionary-attack parameters with
// tpm2_dictionarylockout (swtpm's lockout auth is empty): maxTries wrong
// authorizations before lockout, one forgiven per interval. Call it before
// anything else connects: swtpm serves one client at a time.
func (p *Process) SetLockout(maxTries uint32, interval, recovery time.Duration) error {
	cmd := exec.Command("tpm2_dictionarylockout", "--setup-parameters",
		"--max-tries="+strconv.FormatUint(uint64(maxTries), 10),
		"--recovery-time="+strconv.Itoa(int(interval.Seconds())),
		"--lockout-recovery-time="+strconv.Itoa(int(recovery.Seconds())))
	cmd.Env = append(os.Environ(), "TPM2TOOLS_TCTI="+p.TCTI())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tpm2_dictionarylockout: %w: %s", err, out)
	}
	return nil
}
