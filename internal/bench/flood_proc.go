package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// flooderEnv, set to "1", makes this binary the flooder (IsFlooder): the
// flood part re-executes a copy of itself as uid 65534 with it.
const flooderEnv = "TPMKEY_BENCH_FLOODER"

// IsFlooder reports whether this process is the flood part's flooder.
// cmd/tpmkey-bench's main and its TestMain call FlooderMain when it is.
func IsFlooder() bool { return os.Getenv(flooderEnv) == "1" }

// floodJob is what the bench tells the flooder, as JSON on its stdin.
type floodJob struct {
	Scenario string      `json:"scenario"`
	Socket   string      `json:"socket"`
	Config   FloodConfig `json:"config"`
}

// floodEvent is one line of JSON the flooder writes on its stdout: "start"
// when its setup is done and the flood begins, then "done" with the
// result, or "error".
type floodEvent struct {
	Event  string         `json:"event"`
	Result *FlooderResult `json:"result,omitempty"`
	Error  string         `json:"error,omitempty"`
}

// FlooderResult is what the flooder did and how the daemon answered.
type FlooderResult struct {
	UID      int            `json:"uid"`
	Requests int            `json:"requests"`
	Statuses map[string]int `json:"statuses"` // "OK", "BUSY", "LOCKED_OUT", ...
	// Errors holds the first message of each status other than OK.
	Errors map[string]string `json:"errors,omitempty"`
	// LongestGapMs is the longest time between the flood's start or one
	// of its answers and the next answer. While the flood keeps the TPM
	// saturated, that is an upper bound on its longest single TPM command.
	LongestGapMs float64 `json:"longest_gap_ms"`
	Connections  int     `json:"connections,omitempty"` // connections scenario: accepted and held
	Reconnects   int     `json:"reconnects,omitempty"`  // connections the daemon closed and the flooder reopened
}

// flooderProc is a running flooder.
type flooderProc struct {
	cmd    *exec.Cmd
	events *bufio.Scanner
	log    string
}

// startFlooder runs exe as uid 65534 with job on its stdin, and returns
// once it reported "start": its setup (its own keys and connections) is
// done and the flood is under way.
func startFlooder(ctx context.Context, exe, dir string, job floodJob) (*flooderProc, error) {
	in, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	p := &flooderProc{log: filepath.Join(dir, "flooder-"+job.Scenario+".log")}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer logf.Close()
	p.cmd = exec.CommandContext(ctx, exe)
	p.cmd.Dir = "/"
	p.cmd.Env = []string{flooderEnv + "=1", "PATH=/usr/bin:/bin", "HOME=/nonexistent"}
	p.cmd.Stdin = bytes.NewReader(in)
	p.cmd.Stderr = logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: flooderUID, Gid: flooderUID},
		Pdeathsig:  syscall.SIGKILL,
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start flooder: %w", err)
	}
	p.events = bufio.NewScanner(out)
	p.events.Buffer(make([]byte, 64<<10), 16<<20)
	ev, err := p.next()
	if err == nil && ev.Event != "start" {
		err = fmt.Errorf("bench: flooder said %q, want start", ev.Event)
	}
	if err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// next reads the flooder's next event; "error" becomes an error.
func (p *flooderProc) next() (floodEvent, error) {
	if !p.events.Scan() {
		err := p.events.Err()
		if err == nil {
			err = errors.New("no more output")
		}
		return floodEvent{}, fmt.Errorf("bench: flooder: %w; log %s:\n%s", err, p.log, tail(p.log))
	}
	var ev floodEvent
	if err := json.Unmarshal(p.events.Bytes(), &ev); err != nil {
		return ev, fmt.Errorf("bench: flooder output %q: %w", p.events.Bytes(), err)
	}
	if ev.Event == "error" {
		return ev, fmt.Errorf("bench: flooder: %s; log %s:\n%s", ev.Error, p.log, tail(p.log))
	}
	return ev, nil
}

// wait returns the flooder's result, once it has finished and exited.
func (p *flooderProc) wait(ctx context.Context) (FlooderResult, error) {
	ev, err := p.next()
	if err == nil && (ev.Event != "done" || ev.Result == nil) {
		err = fmt.Errorf("bench: flooder said %q, want done with a result", ev.Event)
	}
	if err != nil {
		return FlooderResult{}, err
	}
	if err := p.cmd.Wait(); err != nil {
		return FlooderResult{}, fmt.Errorf("bench: flooder: %w; log %s:\n%s", err, p.log, tail(p.log))
	}
	return *ev.Result, ctx.Err()
}

func (p *flooderProc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
}

// flooderTimeout bounds a whole flood, setup included.
const flooderTimeout = 4 * time.Minute
