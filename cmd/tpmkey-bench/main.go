// Command tpmkey-bench measures tpmkeyd against the raw TPM it runs on, on
// two swtpm instances, and prints ops/s, p50/p99 latency and the agent/raw
// ratio per case, plus start-up, listing and memory with many stored keys.
// See docs/PERFORMANCE.md for the cases, the targets and a recorded run.
//
//	go run ./cmd/tpmkey-bench                # full run (several minutes)
//	go run ./cmd/tpmkey-bench --smoke        # every case for a moment (CI)
//	go run ./cmd/tpmkey-bench --json > run.json
//	go run ./cmd/tpmkey-bench --stream-only --stream-mib 1024 --stream-dir /dev/shm
//	sudo go run ./cmd/tpmkey-bench --flood   # one owner floods, another signs (docs/RELIABILITY.md)
//	sudo go run ./cmd/tpmkey-bench --flood --smoke
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/tpmkeyd/tpmkeyd/internal/bench"
)

func main() {
	if bench.IsFlooder() { // the flood part's flooder: this binary, re-executed as uid 65534
		os.Exit(bench.FlooderMain())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "tpmkey-bench: %v\n", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, asJSON, quiet, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if asJSON {
		return rep.WriteJSON(stdout)
	}
	return rep.WriteText(stdout)
}

func parseFlags(args []string, stderr io.Writer) (cfg bench.Config, asJSON, quiet bool, err error) {
	fs := flag.NewFlagSet("tpmkey-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	smoke := fs.Bool("smoke", false, "run every case for a moment and the scale part with 200 keys (CI); never checks targets")
	rounds := fs.Int("rounds", 0, "raw/agent alternations per case (default 3; smoke 1)")
	phase := fs.Duration("duration", 0, "length of each timed phase (default 2s; smoke 150ms)")
	scale := fs.String("scale", "", `stored-key counts for the scale part, comma-separated, or "none" (default 0,10000,100000; smoke 0,200)`)
	page := fs.Uint("page-size", 0, "keys per list page (0: the daemon's default)")
	tpmkeyd := fs.String("tpmkeyd", "", "tpmkeyd binary (default: go build ./cmd/tpmkeyd into a temp dir)")
	cpuprofile := fs.String("cpuprofile", "", "have the daemon of the main cases write a CPU profile here (tpmkeyd --cpuprofile)")
	only := fs.String("cases", "", "run only these agent cases, comma-separated (e.g. hot-1-client,rsa-2048-pss)")
	flood := fs.Bool("flood", false, "run only the flood part: while uid 65534 floods, root's sign latency, the daemon's RSS and watchdog gaps (needs root; docs/RELIABILITY.md)")
	scenarios := fs.String("scenarios", "", "with --flood: run only these scenarios after the baseline, comma-separated (keygen-queue,big-frames,wrong-pins,connections)")
	keygens := fs.Int("keygens", 0, "with --flood: keygens of the keygen-queue scenario (default 48; smoke 2)")
	pinWorkers := fs.Int("pin-workers", 0, "with --flood: wrong PINs the flooder keeps in flight at once (default 8; smoke 4)")
	streamMiB := fs.Int64("stream-mib", -1, "file size in MiB of the stream part, tpmkey encrypt against in-process AES-256-GCM (default 1024; smoke 8; 0 skips it)")
	streamDir := fs.String("stream-dir", "", "directory of the stream part's files (default the run's temp dir; e.g. /dev/shm for tmpfs)")
	streamOnly := fs.Bool("stream-only", false, "run only the stream part")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.BoolVar(&quiet, "quiet", false, "no progress on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, false, false, err
		}
		return cfg, false, false, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tpmkey-bench: unexpected argument %q\n", fs.Arg(0))
		return cfg, false, false, errUsage
	}
	cfg = bench.Full()
	if *smoke {
		cfg = bench.Smoke()
	}
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	if *phase > 0 {
		cfg.Phase = *phase
	}
	if *scale != "" {
		if cfg.ScaleCounts, err = parseCounts(*scale); err != nil {
			fmt.Fprintf(stderr, "tpmkey-bench: --scale %q: %v\n", *scale, err)
			return cfg, false, false, errUsage
		}
	}
	if *only != "" {
		cfg.Cases = strings.Split(*only, ",")
	}
	cfg.PageSize, cfg.Tpmkeyd, cfg.CPUProfile = *page, *tpmkeyd, *cpuprofile
	if *streamMiB >= 0 {
		cfg.StreamBytes = *streamMiB << 20
	}
	cfg.StreamDir, cfg.StreamOnly = *streamDir, *streamOnly
	if *flood {
		cfg.Flood = bench.FloodFull()
		if *smoke {
			cfg.Flood = bench.FloodSmoke()
		}
		if *scenarios != "" {
			cfg.Flood.Scenarios = strings.Split(*scenarios, ",")
		}
		if *keygens > 0 {
			cfg.Flood.Keygens = *keygens
		}
		if *pinWorkers > 0 {
			cfg.Flood.PINWorkers = *pinWorkers
		}
	} else if *scenarios != "" || *keygens > 0 || *pinWorkers > 0 {
		fmt.Fprintln(stderr, "tpmkey-bench: --scenarios, --keygens and --pin-workers need --flood")
		return cfg, false, false, errUsage
	}
	return cfg, asJSON, quiet, nil
}

func parseCounts(s string) ([]int, error) {
	if s == "none" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("want non-negative integers: %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}
