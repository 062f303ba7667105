package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/bench"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

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
		"round-robin-64-keys", "rsa-2048-pss", "ecc-keygen"}
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
	if len(rep.Raw) != 3 {
		t.Errorf("raw floors = %d, want 3", len(rep.Raw))
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
