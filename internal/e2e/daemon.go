package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/syncbuf"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// ErrDaemonExited means tpmkeyd exited when it should have been running.
var ErrDaemonExited = errors.New("e2e: tpmkeyd exited")

// DaemonConfig says how to run tpmkeyd.
type DaemonConfig struct {
	Bin      string // path of the tpmkeyd binary
	TPM      string // --tpm spec, such as swtpmtest's Spec()
	StateDir string // --state-dir; created 0700 if missing
	Socket   string // --socket
	Args     []string
	// Log, if set, also receives the daemon's stderr.
	Log io.Writer
}

// Daemon is a running tpmkeyd.
type Daemon struct {
	cfg     DaemonConfig
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	log     syncbuf.Buffer
}

// StartDaemon starts tpmkeyd and returns once its socket accepts a
// connection, or with an error holding the daemon's log when it exits first
// or ctx ends.
func StartDaemon(ctx context.Context, cfg DaemonConfig) (*Daemon, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("e2e: %w", err)
	}
	args := append([]string{"--tpm", cfg.TPM, "--state-dir", cfg.StateDir,
		"--socket", cfg.Socket, "--log-level", "debug"}, cfg.Args...)
	d := &Daemon{cfg: cfg, done: make(chan struct{})}
	d.cmd = exec.Command(cfg.Bin, args...)
	var stderr io.Writer = &d.log
	if cfg.Log != nil {
		stderr = io.MultiWriter(&d.log, cfg.Log)
	}
	d.cmd.Stdout, d.cmd.Stderr = stderr, stderr
	// Die with the test, so that an aborted run leaves no daemon behind.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("e2e: start tpmkeyd: %w", err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.done) }()
	if err := d.waitReady(ctx); err != nil {
		d.Kill()
		return nil, err
	}
	return d, nil
}

// waitReady polls the socket with a growing interval until a Hello is
// answered. Accepting alone is not enough: the socket listens before the
// TPM is open and before the other front ends' sockets exist, and the
// daemon serves its first answer only when all of them are up.
func (d *Daemon) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	delay := time.Millisecond
	for {
		if helloAnswered(ctx, d.cfg.Socket) {
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("%w before it was ready (%v); log:\n%s", ErrDaemonExited, d.waitErr, d.Log())
		case <-ctx.Done():
			return fmt.Errorf("e2e: tpmkeyd not ready: %w; log:\n%s", ctx.Err(), d.Log())
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// Socket is the daemon's socket path.
func (d *Daemon) Socket() string { return d.cfg.Socket }

// Config returns the configuration the daemon was started with.
func (d *Daemon) Config() DaemonConfig { return d.cfg }

// Log returns what the daemon wrote to stderr so far.
func (d *Daemon) Log() string { return d.log.String() }

// WaitLog waits up to timeout for a line of the daemon's log that match
// accepts, such as an audit record, which the daemon writes after it has
// answered. It returns the log and whether such a line was seen.
func (d *Daemon) WaitLog(timeout time.Duration, match func(line string) bool) (string, bool) {
	deadline := time.Now().Add(timeout)
	for {
		log := d.Log()
		for _, line := range strings.Split(log, "\n") {
			if match(line) {
				return log, true
			}
		}
		if time.Now().After(deadline) {
			return log, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop sends SIGTERM and waits for a clean exit, at most timeout.
func (d *Daemon) Stop(timeout time.Duration) error {
	select {
	case <-d.done:
		return fmt.Errorf("%w early: %v", ErrDaemonExited, d.waitErr)
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("e2e: SIGTERM: %w", err)
	}
	select {
	case <-d.done:
		if d.waitErr != nil {
			return fmt.Errorf("e2e: tpmkeyd after SIGTERM: %w", d.waitErr)
		}
		return nil
	case <-time.After(timeout):
		d.Kill()
		return fmt.Errorf("e2e: tpmkeyd still running %v after SIGTERM", timeout)
	}
}

// Kill ends the daemon with SIGKILL, if it still runs, and waits for it.
func (d *Daemon) Kill() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Kill()
	<-d.done
}

// Running reports whether the daemon process is still alive.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// RSS returns the daemon's resident set size in bytes, from /proc.
func (d *Daemon) RSS() (int64, error) { return RSS(d.PID()) }

// RSS returns a process's VmRSS in bytes, from /proc/PID/status.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("e2e: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "1234 kB"
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("e2e: VmRSS %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("e2e: no VmRSS in /proc/%d/status", pid)
}

// helloAnswered reports whether the daemon at sock answers a Hello.
func helloAnswered(ctx context.Context, sock string) bool {
	c, err := net.Dial("unix", sock)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	frame, err := protocol.AppendRequest(nil, protocol.RequestHeader{Op: protocol.OpHello, ID: 1},
		&protocol.HelloRequest{Versions: []uint{1}})
	if err != nil {
		return false
	}
	if _, err := c.Write(frame); err != nil {
		return false
	}
	_, err = protocol.ReadFrame(c, protocol.DefaultMaxFrameSize)
	return err == nil
}
