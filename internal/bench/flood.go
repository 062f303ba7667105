package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// FloodConfig is the flood part (issue 9, docs/RELIABILITY.md): while one
// owner floods the daemon, another uid signs, and the bench records that
// uid's latency, the daemon's memory and its watchdog pings.
type FloodConfig struct {
	Baseline    time.Duration `json:"baseline"`     // the victim alone, before the floods
	WatchdogSec time.Duration `json:"watchdog_sec"` // WATCHDOG_USEC given to the daemon
	KeygenAlg   string        `json:"keygen_alg"`   // the flooder's keygens ("rsa-3072")
	Keygens     int           `json:"keygens"`      // keygen-queue: keygens pipelined on one connection
	FrameConns  int           `json:"frame_conns"`  // big-frames: connections sending 1 MiB Sign frames
	FrameDepth  int           `json:"frame_depth"`  // big-frames: frames in flight per connection
	FrameFor    time.Duration `json:"frame_for"`    // big-frames: how long frames are sent
	BusyKeygens int           `json:"busy_keygens"` // big-frames: keygens kept queued meanwhile
	WrongPINs   int           `json:"wrong_pins"`   // wrong-pins: attempts on the flooder's own PIN key
	PINWorkers  int           `json:"pin_workers"`  // wrong-pins: pipelined on one connection
	Conns       int           `json:"conns"`        // connections: how many the flooder tries to open
	ConnsFor    time.Duration `json:"conns_for"`    // connections: how long it holds them
	Scenarios   []string      `json:"scenarios,omitempty"`
}

// FloodFull is the flood part as RELIABILITY.md records it: a few minutes.
func FloodFull() *FloodConfig {
	return &FloodConfig{Baseline: 5 * time.Second, WatchdogSec: 10 * time.Second,
		KeygenAlg: "rsa-3072", Keygens: 48,
		FrameConns: 8, FrameDepth: 64, FrameFor: 15 * time.Second, BusyKeygens: 2,
		WrongPINs: 10_000, PINWorkers: 8, Conns: 1000, ConnsFor: 10 * time.Second}
}

// FloodSmoke runs every scenario for a moment (CI); its numbers prove only
// that the harness works.
func FloodSmoke() *FloodConfig {
	return &FloodConfig{Baseline: 300 * time.Millisecond, WatchdogSec: time.Second,
		KeygenAlg: "rsa-2048", Keygens: 2,
		FrameConns: 2, FrameDepth: 4, FrameFor: 500 * time.Millisecond, BusyKeygens: 1,
		WrongPINs: 50, PINWorkers: 4, Conns: 20, ConnsFor: 300 * time.Millisecond}
}

// Scenario names, in the order they run. wrong-pins runs last: where the
// daemon lets the TPM lock out, every PIN key stays locked for the TPM's
// recovery time, which would spoil the scenarios after it.
const (
	ScenarioBaseline    = "baseline"
	ScenarioKeygenQueue = "keygen-queue"
	ScenarioBigFrames   = "big-frames"
	ScenarioConnections = "connections"
	ScenarioWrongPINs   = "wrong-pins"
)

// scenario is one flood; the baseline has no flooder.
type scenario struct {
	name    string
	desc    func(*FloodConfig) string
	tpmWork bool // the flood itself runs TPM commands
}

func scenarios() []scenario {
	return []scenario{
		{ScenarioBaseline, func(*FloodConfig) string { return "no flood: the victim alone" }, false},
		{ScenarioKeygenQueue, func(c *FloodConfig) string {
			return fmt.Sprintf("%d %s GenerateKey pipelined on one connection", c.Keygens, c.KeygenAlg)
		}, true},
		{ScenarioBigFrames, func(c *FloodConfig) string {
			return fmt.Sprintf("1 MiB Sign frames, %d deep on %d connections for %s, %d %s keygens kept queued",
				c.FrameDepth, c.FrameConns, c.FrameFor, c.BusyKeygens, c.KeygenAlg)
		}, true},
		{ScenarioConnections, func(c *FloodConfig) string {
			return fmt.Sprintf("%d connection attempts, held for %s", c.Conns, c.ConnsFor)
		}, false},
		{ScenarioWrongPINs, func(c *FloodConfig) string {
			return fmt.Sprintf("%d wrong PINs on the flooder's own PIN key, %d pipelined", c.WrongPINs, c.PINWorkers)
		}, true},
	}
}

// The flooder's uid: nobody. The victim is the bench itself (root).
const flooderUID = 65534

// floodDaemonConfig lets the floods through the admission limits, so that
// they reach the TPM queue and the memory budget: the default rate with a
// burst that admits 48 RSA-3072 keygens (1,500 tokens each), no key quota,
// and room for them in the per-owner TPM queue. Everything else is the
// default, as packaged.
const floodDaemonConfig = `[limits]
requests_per_second = 1000.0
burst = 100000
max_keys_per_uid = 0
max_queued_tpm_per_uid = 64
`

// The packaged unit's memory settings (systemd/tpmkeyd.service).
const (
	unitMemoryMaxMiB = 384
	unitGoMemLimit   = "256MiB"
)

// floodRun holds what the flood part started, for cleanup.
type floodRun struct {
	cfg    *FloodConfig
	dir    string // 0755, so that the flooder reaches the socket
	socket string
	exe    string // a copy of this binary that uid 65534 may run
	tpm    *swtpmtest.Process
	d      *daemonProc
	victim *victim
}

// runFlood is Run for Config.Flood.
func runFlood(ctx context.Context, cfg Config) (rep *Report, err error) {
	if os.Geteuid() != 0 {
		return nil, ErrNeedRoot
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &floodRun{cfg: cfg.Flood}
	if f.dir, err = os.MkdirTemp("", "tpmkey-flood"); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.close()
	if err := f.setup(ctx, cfg.Tpmkeyd, log); err != nil {
		return nil, err
	}
	rep = &Report{Machine: machine(), Settings: Settings{Smoke: cfg.Smoke},
		Flood: &FloodReport{Config: *f.cfg, MemoryMaxMiB: unitMemoryMaxMiB, GoMemLimit: unitGoMemLimit,
			DaemonConfig: floodDaemonConfig}}
	for _, sc := range scenarios() {
		if !f.selected(sc.name) {
			continue
		}
		log.Info("flood", "scenario", sc.name)
		res, err := f.measure(ctx, sc, log)
		if err != nil {
			return nil, fmt.Errorf("bench: flood %s: %w", sc.name, err)
		}
		rep.Flood.Scenarios = append(rep.Flood.Scenarios, res)
	}
	if err := f.stop(); err != nil {
		return nil, err
	}
	if rep.Flood.TPMLockoutAfter, err = readLockout(f.tpm); err != nil {
		return nil, err
	}
	rep.Failures = floodMisses(rep.Flood)
	return rep, nil
}

func (f *floodRun) selected(name string) bool {
	if name == ScenarioBaseline || len(f.cfg.Scenarios) == 0 {
		return true
	}
	for _, s := range f.cfg.Scenarios {
		if s == name {
			return true
		}
	}
	return false
}

// setup builds tpmkeyd if needed, copies the flooder, and starts swtpm and
// the daemon with a watchdog and the unit's GOMEMLIMIT.
func (f *floodRun) setup(ctx context.Context, bin string, log *slog.Logger) error {
	if err := checkScenarios(f.cfg.Scenarios); err != nil {
		return err
	}
	if err := os.Chmod(f.dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if bin == "" {
		log.Info("building tpmkeyd")
		bins, err := e2e.Build(ctx, f.dir, "cmd/tpmkeyd")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		bin = bins[0]
	}
	var err error
	if f.exe, err = copySelf(filepath.Join(f.dir, "flooder")); err != nil {
		return err
	}
	if f.tpm, err = swtpmtest.Launch(ctx, swtpmtest.Config{StateDir: filepath.Join(f.dir, "swtpm")}); err != nil {
		return fmt.Errorf("bench: swtpm: %w", err)
	}
	conf := filepath.Join(f.dir, "etc", "tpmkeyd.toml")
	if err := os.MkdirAll(filepath.Dir(conf), 0o700); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := os.WriteFile(conf, []byte(floodDaemonConfig), 0o600); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	f.socket = filepath.Join(f.dir, "tpmkeyd.sock")
	f.d, err = startDaemon(ctx, daemonConfig{bin: bin, tpm: f.tpm.Spec(), stateDir: filepath.Join(f.dir, "state"),
		socket: f.socket, config: conf, env: []string{"GOMEMLIMIT=" + unitGoMemLimit},
		watchdog: f.cfg.WatchdogSec, logPath: filepath.Join(f.dir, "tpmkeyd.log")})
	if err != nil {
		return err
	}
	log.Info("tpmkeyd ready", "ready", f.d.ready, "watchdog", f.cfg.WatchdogSec)
	f.victim, err = newVictim(ctx, f.socket)
	return err
}

func checkScenarios(names []string) error {
	for _, n := range names {
		found := false
		for _, sc := range scenarios() {
			found = found || sc.name == n
		}
		if !found {
			return fmt.Errorf("%w: %q", ErrUnknownScenario, n)
		}
	}
	return nil
}

// copySelf copies this executable to path, mode 0755: the go build and go
// test caches are 0700, so uid 65534 could not run it where it is.
func copySelf(path string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("bench: os.Executable: %w", err)
	}
	src, err := os.Open(self)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	defer src.Close()
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return "", fmt.Errorf("bench: copy %s: %w", self, err)
	}
	if err := dst.Close(); err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	return path, nil
}

// stop ends the victim and stops the daemon cleanly.
func (f *floodRun) stop() error {
	if f.victim != nil {
		f.victim.close()
		f.victim = nil
	}
	if f.d == nil {
		return nil
	}
	d := f.d
	f.d = nil
	return d.stop()
}

func (f *floodRun) close() {
	if f.victim != nil {
		f.victim.close()
	}
	if f.d != nil {
		f.d.kill()
	}
	if f.tpm != nil {
		f.tpm.Close()
	}
	os.RemoveAll(f.dir)
}

// measure runs one scenario: the flooder (none for the baseline) and,
// from the moment the flood starts until it ends, the victim, a memory
// sampler and the watchdog record. Then it waits for the daemon to settle:
// the next watchdog ping, and the victim's PIN key once more.
func (f *floodRun) measure(ctx context.Context, sc scenario, log *slog.Logger) (ScenarioResult, error) {
	res := ScenarioResult{Name: sc.name, Description: sc.desc(f.cfg)}
	var fl *flooderProc
	if sc.name != ScenarioBaseline {
		var err error
		if fl, err = startFlooder(ctx, f.exe, f.dir, floodJob{Scenario: sc.name, Socket: f.socket, Config: *f.cfg}); err != nil {
			return res, err
		}
		defer fl.kill()
	}
	mem := newMemSampler(f.d)
	vic := f.victim.start(ctx)
	from := time.Now()
	var err error
	if fl == nil {
		err = sleepCtx(ctx, f.cfg.Baseline)
	} else {
		var fr FlooderResult
		fr, err = fl.wait(ctx)
		res.Flooder = &fr
	}
	to := time.Now()
	res.Victim = vic.stop()
	res.Memory = mem.stop()
	if err != nil {
		return res, err
	}
	res.FloodSec = to.Sub(from).Seconds()
	if sc.tpmWork && res.Flooder != nil {
		res.LongestTPMms = res.Flooder.LongestGapMs
	}
	res.TargetP99ms = res.LongestTPMms + targetSlackMs
	if err := f.settle(ctx, &res, from, to); err != nil {
		return res, err
	}
	log.Info("flood done", "scenario", sc.name, "victim_p99_ms", res.Victim.P99ms,
		"watchdog_gap_s", res.WatchdogMaxGapSec, "rss_mib", mib(res.Memory.RSSKiB))
	return res, nil
}

// settle waits for the first watchdog ping after the flood (at most two
// watchdog intervals) to close the watchdog record, then checks the
// victim's PIN key once more.
func (f *floodRun) settle(ctx context.Context, res *ScenarioResult, from, to time.Time) error {
	deadline := time.Now().Add(2 * f.cfg.WatchdogSec)
	var pings []time.Time
	for {
		pings = f.d.notify.watchdogPings()
		if n := len(pings); n > 0 && !pings[n-1].Before(to) || !time.Now().Before(deadline) {
			break
		}
		if err := sleepCtx(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	res.WatchdogMaxGapSec = maxGap(pings, from, to, time.Now()).Seconds()
	for _, p := range pings {
		if p.After(from) && p.Before(to) {
			res.WatchdogPings++
		}
	}
	if err := f.victim.pinSign(ctx); err != nil {
		res.Victim.PINAfterError = err.Error()
	} else {
		res.Victim.PINAfterOK = true
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
