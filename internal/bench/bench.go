package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// Config is one run of the bench.
type Config struct {
	Rounds      int           // raw/agent alternations per case
	Phase       time.Duration // length of each timed phase
	ScaleCounts []int         // stored keys for the scale part; empty: skip it
	PageSize    uint          // keys per list page; 0: the daemon's default
	Tpmkeyd     string        // tpmkeyd binary; "": build ./cmd/tpmkeyd
	CPUProfile  string        // if set, the daemon of the main cases writes its CPU profile here
	Cases       []string      // run only these agent cases (and their floors); empty: all
	Smoke       bool          // recorded in the report
	Flood       *FloodConfig  // if set, run only the flood part (needs root)
	StreamBytes int64         // file size of the stream part (tpmkey encrypt); 0: skip it
	StreamDir   string        // where the stream part's files go; "": the run's temp dir
	StreamOnly  bool          // run only the stream part
	Log         *slog.Logger  // progress; nil: discard
}

// Smoke is the configuration CI runs: every case and the scale part, for a
// few seconds in all.
func Smoke() Config {
	return Config{Rounds: 1, Phase: 150 * time.Millisecond, ScaleCounts: []int{0, 200}, Smoke: true, StreamBytes: 8 << 20}
}

// Full is the default configuration of a real measurement.
func Full() Config {
	return Config{Rounds: 3, Phase: 2 * time.Second, ScaleCounts: []int{0, 10_000, 100_000}, StreamBytes: 1 << 30}
}

// run holds what Run started, for cleanup.
type run struct {
	cfg     Config
	log     *slog.Logger
	dir     string
	bin     string
	tpms    [2]*swtpmtest.Process
	daemonN int // daemon starts, for distinct log files
}

// Run measures everything Config asks for. It fails on any error of the
// harness, the daemon or the TPM; missed targets are only listed in
// Report.Failures.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if cfg.Flood != nil {
		return runFlood(ctx, cfg)
	}
	if cfg.Rounds < 1 || cfg.Phase <= 0 {
		return nil, errors.New("bench: Rounds and Phase must be positive")
	}
	r := &run{cfg: cfg, log: cfg.Log}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.dir, err = os.MkdirTemp("", "tpmkey-bench"); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer r.close()
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	rep = &Report{Machine: machine(), Settings: Settings{Rounds: cfg.Rounds, PhaseSec: cfg.Phase.Seconds(),
		Smoke: cfg.Smoke, ScaleCounts: cfg.ScaleCounts}, Profile: cfg.CPUProfile}
	if !cfg.StreamOnly {
		if err := r.mainCases(ctx, rep); err != nil {
			return nil, err
		}
		if err := r.scale(ctx, rep); err != nil {
			return nil, err
		}
	}
	if err := r.stream(ctx, rep); err != nil {
		return nil, err
	}
	rep.Failures = misses(rep)
	return rep, nil
}

// setup builds tpmkeyd if needed and launches the two swtpm instances, with
// identical TPM state.
func (r *run) setup(ctx context.Context) error {
	r.bin = r.cfg.Tpmkeyd
	if r.bin == "" {
		r.log.Info("building tpmkeyd")
		bins, err := e2e.Build(ctx, r.dir, "cmd/tpmkeyd")
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		r.bin = bins[0]
	}
	var err error
	r.tpms, err = launchTwins(ctx, [2]string{filepath.Join(r.dir, "swtpm1"), filepath.Join(r.dir, "swtpm2")})
	return err
}

func (r *run) close() {
	for _, p := range r.tpms {
		if p != nil {
			p.Close()
		}
	}
	os.RemoveAll(r.dir)
}

// statePath is the daemon's state directory for the main cases.
func (r *run) statePath() string { return filepath.Join(r.dir, "state") }

// startDaemon runs tpmkeyd on swtpm #2 with the bench config.
func (r *run) startDaemon(ctx context.Context, stateDir string, args ...string) (*daemonProc, error) {
	r.daemonN++
	return startDaemon(ctx, daemonConfig{
		bin: r.bin, tpm: r.tpms[1].Spec(), stateDir: stateDir,
		socket: filepath.Join(r.dir, "tpmkeyd.sock"), config: r.configPath(),
		args: args, logPath: filepath.Join(r.dir, fmt.Sprintf("tpmkeyd-%d.log", r.daemonN)),
	})
}

// benchConfig lifts the per-uid request rate and key quota, which would
// otherwise throttle the bench itself, and raises the frame limit to 2 MiB
// so that the AEAD cases carry 1 MiB; everything else is the default.
const benchConfig = `[limits]
requests_per_second = 0
max_keys_per_uid = 0
max_frame_size = 2097152
`

// configPath is in a directory of its own, as /etc/tpmkeyd is: the daemon
// watches the config's directory, and the log written next to it would
// wake the watcher at every audit record (5 % of the daemon's CPU once).
func (r *run) configPath() string { return filepath.Join(r.dir, "etc", "tpmkeyd.toml") }

func (r *run) writeConfig() error {
	if err := os.MkdirAll(filepath.Dir(r.configPath()), 0o700); err != nil {
		return err
	}
	return os.WriteFile(r.configPath(), []byte(benchConfig), 0o600)
}

// scale measures start-up, first sign, listing and memory at each count,
// on a state directory of its own, growing the store between counts.
func (r *run) scale(ctx context.Context, rep *Report) error {
	if len(r.cfg.ScaleCounts) == 0 {
		return nil
	}
	s := &scaler{tpmSpec: r.tpms[1].Spec(), stateDir: filepath.Join(r.dir, "scale-state"),
		log: r.log, pageSize: r.cfg.PageSize}
	s.start = func(ctx context.Context) (*daemonProc, error) { return r.startDaemon(ctx, s.stateDir) }
	if err := s.seed(ctx); err != nil {
		return err
	}
	for _, n := range r.cfg.ScaleCounts {
		r.log.Info("scale", "keys", n)
		res, err := s.measure(ctx, n)
		if err != nil {
			return fmt.Errorf("bench: scale %d keys: %w", n, err)
		}
		rep.Scale = append(rep.Scale, res)
	}
	return nil
}
