package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// Report is everything one run measured.
type Report struct {
	Machine  Machine       `json:"machine"`
	Settings Settings      `json:"settings"`
	Raw      []RawResult   `json:"raw"`
	Cases    []CaseResult  `json:"cases"`
	Scale    []ScaleResult `json:"scale"`
	Memory   MemoryResult  `json:"memory"`
	Flood    *FloodReport  `json:"flood,omitempty"`
	Stream   *StreamResult `json:"stream,omitempty"`
	Profile  string        `json:"cpu_profile,omitempty"`
	Failures []string      `json:"target_misses"`
}

// Machine names where the run happened.
type Machine struct {
	GoVersion string `json:"go"`
	CPUs      int    `json:"cpus"`
	Kernel    string `json:"kernel"`
	Swtpm     string `json:"swtpm"`
	LoadAvg   string `json:"loadavg_at_start"`
}

// Settings echoes the knobs of the run.
type Settings struct {
	Rounds      int     `json:"rounds"`
	PhaseSec    float64 `json:"phase_sec"`
	Smoke       bool    `json:"smoke"`
	ScaleCounts []int   `json:"scale_counts"`
}

// RawResult is a floor pooled over every phase it ran in.
type RawResult struct {
	Name Reference `json:"name"`
	Stats
}

// CaseResult is one agent case and the raw phases paired with it.
type CaseResult struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Workers     int       `json:"workers"`
	Reference   Reference `json:"reference"`
	Agent       Stats     `json:"agent"`
	Raw         Stats     `json:"raw"`
	// Ratio is agent/raw throughput, pooled over all rounds.
	Ratio float64 `json:"ratio"`
	// RoundRatios are the same ratio per round, to show the noise.
	RoundRatios []float64 `json:"round_ratios"`
	Target      float64   `json:"target_ratio,omitempty"`
	// DaemonCPUus is tpmkeyd's CPU time (user+system, all threads) per
	// operation, from /proc/PID/stat; resolution 10 ms per phase.
	DaemonCPUus float64 `json:"daemon_cpu_us_per_op"`
	// AddedP50us is agent p50 minus raw p50 (serial cases only).
	AddedP50us *float64 `json:"added_p50_us,omitempty"`
}

// MemoryResult is the daemon's memory in the main cases.
type MemoryResult struct {
	Idle      Memory `json:"idle"`
	UnderLoad Memory `json:"under_load_max"`
}

// WriteJSON writes r indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the tables.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "machine: %d CPUs, %s, %s, %s, load average at start %s\n",
		r.Machine.CPUs, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.Swtpm, r.Machine.LoadAvg)
	if r.Flood != nil {
		writeFlood(w, r.Flood)
		return writeFailures(w, r.Failures)
	}
	if len(r.Cases) == 0 && r.Stream != nil { // --stream-only
		writeStream(w, r.Stream)
		return writeFailures(w, r.Failures)
	}
	fmt.Fprintf(w, "%d rounds of %gs phases, raw and agent alternating\n\n", r.Settings.Rounds, r.Settings.PhaseSec)
	fmt.Fprintln(tw, "case\tworkers\tagent ops/s\tp50 µs\tp99 µs\traw ops/s\traw p50 µs\tratio\ttarget\tadded p50 µs\tdaemon CPU µs/op\t")
	for _, c := range r.Cases {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%s\t%s\t%.0f\t\n", c.Name, c.Workers,
			c.Agent.OpsPerSec, c.Agent.P50us, c.Agent.P99us, c.Raw.OpsPerSec, c.Raw.P50us, c.Ratio,
			orDash(c.Target, "≥%.2f"), orDashPtr(c.AddedP50us), c.DaemonCPUus)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nraw floor, pooled over all its phases:")
	fmt.Fprintln(tw, "floor\tops\tops/s\tp50 µs\tp99 µs\t")
	for _, f := range r.Raw {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t\n", f.Name, f.Ops, f.OpsPerSec, f.P50us, f.P99us)
	}
	tw.Flush()
	writeScale(w, tw, r.Scale)
	fmt.Fprintf(w, "\ndaemon memory (main cases): idle RSS %.1f MiB, under load max RSS %.1f MiB, HWM %.1f MiB\n",
		mib(r.Memory.Idle.RSSKiB), mib(r.Memory.UnderLoad.RSSKiB), mib(r.Memory.UnderLoad.HWMKiB))
	writeStream(w, r.Stream)
	if r.Profile != "" {
		fmt.Fprintf(w, "daemon CPU profile: %s\n", r.Profile)
	}
	return writeFailures(w, r.Failures)
}

func writeFailures(w io.Writer, failures []string) error {
	if len(failures) == 0 {
		_, err := fmt.Fprintln(w, "targets: all met")
		return err
	}
	fmt.Fprintln(w, "targets missed (informational; the bench does not fail on them):")
	for _, f := range failures {
		fmt.Fprintf(w, "  - %s\n", f)
	}
	return nil
}

func orDash(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func orDashPtr(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%+.0f", *v)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

func writeScale(w io.Writer, tw *tabwriter.Writer, scale []ScaleResult) {
	if len(scale) == 0 {
		return
	}
	fmt.Fprintln(w, "\nscale (records share one TPM blob):")
	fmt.Fprintln(tw, "keys\tpopulate s\tREADY ms\tdial ms\tfirst sign ms\tlist ms\tpages\tRSS idle MiB\tRSS after list MiB\tHWM MiB\t")
	for _, s := range scale {
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f\t%d\t%.1f\t%.1f\t%.1f\t\n", s.Keys, s.PopulateSec, s.ReadyMs, s.DialMs,
			s.FirstSignMs, s.ListMs, s.ListPages, mib(s.MemIdle.RSSKiB), mib(s.MemAfterList.RSSKiB), mib(s.MemAfterList.HWMKiB))
	}
	tw.Flush()
}
