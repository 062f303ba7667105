package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/bench"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// TestMain lets the test binary be the flood part's flooder, as main does:
// the flood smoke re-executes this binary as uid 65534.
func TestMain(m *testing.M) {
	if bench.IsFlooder() {
		os.Exit(bench.FlooderMain())
	}
	os.Exit(m.Run())
}

// TestSmoke runs what CI runs (tpmkey-bench --smoke --json) in-process: the
// real tpmkeyd binary on two real swtpm instances. It checks that every case
// ran and that the report is complete, never a timing.
func TestSmoke(t *testing.T) {
	swtpmtest.RequireSwtpm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"--smoke", "--json", "--quiet"}, &stdout, &stderr); err != nil {
		t.Fatalf("run(--smoke) = %v, want nil; stderr:\n%s", err, stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("json.Unmarshal(report) = %v; output:\n%s", err, stdout.String())
	}
	wantCases := []string{"hot-1-client", "hot-8-goroutines", "hot-64-goroutines", "hot-64-connections",
		"round-robin-64-keys", "rsa-2048-pss", "mac-32-bytes", "mac-8-goroutines", "verify-mac-32-bytes", "ecc-keygen",
		"aead-encrypt-1mib", "aead-decrypt-1mib", "aead-encrypt-1kib-8-goroutines", "aead-decrypt-1kib-8-goroutines",
		"ssh-agent-1-connection", "ssh-agent-8-connections"}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"); err == nil && cgoBuild {
		// The PKCS#11 cases (internal/bench/pkcs11_cgo.go).
		wantCases = append(wantCases, "pkcs11-sign-1-session", "pkcs11-sign-8-sessions")
	}
	var gotCases []string
	for _, c := range rep.Cases {
		gotCases = append(gotCases, c.Name)
		if c.Agent.Ops == 0 || c.Raw.Ops == 0 || c.Ratio <= 0 || len(c.RoundRatios) != 1 {
			t.Errorf("case %s = agent %d ops, raw %d ops, ratio %v, %d round ratios; want ops > 0, ratio > 0, 1 round",
				c.Name, c.Agent.Ops, c.Raw.Ops, c.Ratio, len(c.RoundRatios))
		}
	}
	if !slices.Equal(gotCases, wantCases) {
		t.Errorf("cases = %v, want %v", gotCases, wantCases)
	}
	if len(rep.Raw) != 4 {
		t.Errorf("raw floors = %d, want 4", len(rep.Raw))
	}
	var gotKeys []int
	for _, s := range rep.Scale {
		gotKeys = append(gotKeys, s.Keys)
		if s.ReadyMs <= 0 || s.FirstSignMs <= 0 || s.ListPages < 1 || s.MemAfterList.RSSKiB <= 0 {
			t.Errorf("scale %d keys = %+v, want READY, first sign, pages and RSS measured", s.Keys, s)
		}
	}
	if want := []int{1, 200}; !slices.Equal(gotKeys, want) {
		t.Errorf("scale keys = %v, want %v", gotKeys, want)
	}
	if rep.Memory.Idle.RSSKiB <= 0 || rep.Memory.UnderLoad.RSSKiB <= 0 {
		t.Errorf("memory = %+v, want idle and under-load RSS", rep.Memory)
	}
	if s := rep.Stream; s == nil || s.Bytes != 8<<20 || s.TpmkeyMBps <= 0 || s.InProcessMBps <= 0 || s.PeakRSSMiB <= 0 {
		t.Errorf("stream = %+v, want 8 MiB measured through tpmkey and in-process, and tpmkey's peak RSS", s)
	}
}

// TestSmokeFlood runs tpmkey-bench --flood --smoke --json in-process: the
// real tpmkeyd on a real swtpm, this test binary re-executed as uid 65534
// for the flooder. It checks that every scenario ran and produced numbers,
// never a timing or a target.
func TestSmokeFlood(t *testing.T) {
	swtpmtest.RequireSwtpm(t)
	swtpmtest.RequireRoot(t, "run the flooder as uid 65534")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"--flood", "--smoke", "--json", "--quiet"}, &stdout, &stderr); err != nil {
		t.Fatalf("run(--flood --smoke) = %v, want nil; stderr:\n%s", err, stderr.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("json.Unmarshal(report) = %v; output:\n%s", err, stdout.String())
	}
	if rep.Flood == nil {
		t.Fatalf("report.flood = nil, want the flood part; output:\n%s", stdout.String())
	}
	want := []string{bench.ScenarioBaseline, bench.ScenarioKeygenQueue, bench.ScenarioBigFrames,
		bench.ScenarioConnections, bench.ScenarioWrongPINs}
	var got []string
	for _, s := range rep.Flood.Scenarios {
		got = append(got, s.Name)
		if s.Victim.Signs == 0 || s.Victim.P99ms <= 0 || s.Memory.RSSKiB <= 0 || s.WatchdogMaxGapSec <= 0 {
			t.Errorf("scenario %s = %d victim signs, p99 %v ms, RSS %d KiB, watchdog gap %v s; want all measured",
				s.Name, s.Victim.Signs, s.Victim.P99ms, s.Memory.RSSKiB, s.WatchdogMaxGapSec)
		}
		if s.Name != bench.ScenarioBaseline && (s.Flooder == nil || s.Flooder.Requests == 0 || s.Flooder.UID != 65534) {
			t.Errorf("scenario %s flooder = %+v, want requests from uid 65534", s.Name, s.Flooder)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("scenarios = %v, want %v", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr error
		check   func(bench.Config) bool
	}{
		{"defaults-are-full", nil, nil, func(c bench.Config) bool {
			return c.Rounds == 3 && c.Phase == 2*time.Second && slices.Equal(c.ScaleCounts, []int{0, 10_000, 100_000})
		}},
		{"smoke", []string{"--smoke"}, nil, func(c bench.Config) bool {
			return c.Smoke && c.Rounds == 1 && slices.Equal(c.ScaleCounts, []int{0, 200})
		}},
		{"overrides", []string{"--rounds", "5", "--duration", "1s", "--scale", "0,50"}, nil, func(c bench.Config) bool {
			return c.Rounds == 5 && c.Phase == time.Second && slices.Equal(c.ScaleCounts, []int{0, 50})
		}},
		{"scale-none", []string{"--scale", "none"}, nil, func(c bench.Config) bool { return c.ScaleCounts == nil }},
		{"scale-negative", []string{"--scale", "-1"}, errUsage, nil},
		{"scale-garbage", []string{"--scale", "ten"}, errUsage, nil},
		{"flood", []string{"--flood"}, nil, func(c bench.Config) bool {
			return c.Flood != nil && c.Flood.Keygens == 48 && c.Flood.WrongPINs == 10_000
		}},
		{"flood-smoke", []string{"--flood", "--smoke", "--scenarios", "wrong-pins", "--keygens", "3"}, nil, func(c bench.Config) bool {
			return c.Flood != nil && c.Flood.Keygens == 3 && slices.Equal(c.Flood.Scenarios, []string{"wrong-pins"})
		}},
		{"no-flood-by-default", nil, nil, func(c bench.Config) bool { return c.Flood == nil }},
		{"scenarios-without-flood", []string{"--scenarios", "wrong-pins"}, errUsage, nil},
		{"extra-argument", []string{"now"}, errUsage, nil},
		{"unknown-flag", []string{"--fast"}, errUsage, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _, _, err := parseFlags(tt.args, io.Discard)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseFlags(%q) error = %v, want %v", tt.args, err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(cfg) {
				t.Errorf("parseFlags(%q) = %+v, want other settings", tt.args, cfg)
			}
		})
	}
}
