package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemonConfig says how to run the real tpmkeyd binary.
type daemonConfig struct {
	bin, tpm, stateDir, socket, config string
	args                               []string
	env                                []string      // added to the bench's environment
	watchdog                           time.Duration // WATCHDOG_USEC for the daemon; 0: none
	logPath                            string        // stderr goes here
}

// daemonProc is a running tpmkeyd. ready is the time from exec to READY=1.
type daemonProc struct {
	cfg     daemonConfig
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	ready   time.Duration
	// notify stays open for the daemon's life when it has a watchdog, to
	// record its pings; otherwise it is closed after READY=1 and nil.
	notify *notifyListener
}

// startDaemon runs tpmkeyd with NOTIFY_SOCKET pointing at a datagram socket
// of our own, and returns once the daemon sent READY=1 (as systemd would see
// it), with the time that took.
func startDaemon(ctx context.Context, cfg daemonConfig) (*daemonProc, error) {
	nl, err := listenNotify(filepath.Join(filepath.Dir(cfg.socket), "notify.sock"))
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			nl.close()
		}
	}()
	logf, err := os.OpenFile(cfg.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer logf.Close()
	args := []string{"--tpm", cfg.tpm, "--state-dir", cfg.stateDir, "--socket", cfg.socket}
	if cfg.config != "" {
		args = append(args, "--config", cfg.config)
	}
	d := &daemonProc{cfg: cfg, done: make(chan struct{})}
	d.cmd = exec.Command(cfg.bin, append(args, cfg.args...)...)
	d.cmd.Env = append(append(os.Environ(), "NOTIFY_SOCKET="+nl.path), cfg.env...)
	if cfg.watchdog > 0 {
		d.cmd.Env = append(d.cmd.Env, "WATCHDOG_USEC="+strconv.FormatInt(cfg.watchdog.Microseconds(), 10))
	}
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// Die with the bench, so that an aborted run leaves no daemon behind.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", cfg.bin, err)
	}
	go func() { d.waitErr = d.cmd.Wait(); close(d.done) }()
	if err := d.awaitReady(ctx, nl, start); err != nil {
		d.kill()
		return nil, fmt.Errorf("%w; log %s:\n%s", err, cfg.logPath, tail(cfg.logPath))
	}
	if cfg.watchdog > 0 {
		d.notify, keep = nl, true
	}
	return d, nil
}

// awaitReady waits for the notification READY=1.
func (d *daemonProc) awaitReady(ctx context.Context, nl *notifyListener, start time.Time) error {
	timeout := time.NewTimer(60 * time.Second)
	defer timeout.Stop()
	select {
	case t := <-nl.ready:
		d.ready = t.Sub(start)
		return nil
	case <-d.done:
		return fmt.Errorf("%w: exited: %v", ErrNoReady, d.waitErr)
	case <-timeout.C:
		return fmt.Errorf("%w within 60s", ErrNoReady)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrNoReady, ctx.Err())
	}
}

// stop sends SIGTERM, as systemd does, and waits for a clean exit.
func (d *daemonProc) stop() error {
	select {
	case <-d.done:
		d.closeNotify()
		return fmt.Errorf("bench: tpmkeyd exited early: %v", d.waitErr)
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("bench: SIGTERM: %w", err)
	}
	select {
	case <-d.done:
		d.closeNotify()
		if d.waitErr != nil {
			return fmt.Errorf("bench: tpmkeyd after SIGTERM: %w; log:\n%s", d.waitErr, tail(d.cfg.logPath))
		}
		return nil
	case <-time.After(30 * time.Second):
		d.kill()
		return fmt.Errorf("bench: tpmkeyd still running 30s after SIGTERM")
	}
}

func (d *daemonProc) kill() {
	select {
	case <-d.done:
	default:
		_ = d.cmd.Process.Kill()
		<-d.done
	}
	d.closeNotify()
}

func (d *daemonProc) closeNotify() {
	if d.notify != nil {
		d.notify.close()
		d.notify = nil
	}
}

// Memory is a process's resident set from /proc/PID/status, in KiB.
type Memory struct {
	RSSKiB int64 `json:"vm_rss_kib"`
	HWMKiB int64 `json:"vm_hwm_kib"`
}

func (d *daemonProc) memory() (Memory, error) { return readMemory(d.cmd.Process.Pid) }

func readMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("bench: %w", err)
	}
	var m Memory
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest) // "1234 kB"
		if len(f) == 0 {
			continue
		}
		kib, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("bench: %s %q: %w", name, rest, err)
		}
		if name == "VmRSS" {
			m.RSSKiB = kib
		} else {
			m.HWMKiB = kib
		}
	}
	return m, nil
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(bytes.TrimSpace(b))
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime is the daemon's user plus system CPU time so far, all threads.
func (d *daemonProc) cpuTime() (time.Duration, error) { return readCPUTime(d.cmd.Process.Pid) }

func readCPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	// The command name may hold spaces; the fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("bench: /proc/%d/stat: unexpected format", pid)
	}
	var ticks int64
	for _, s := range f[11:13] { // utime, stime
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}
