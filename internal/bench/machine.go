package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
)

// machine describes the host, so that a figure is never quoted without it.
func machine() Machine {
	m := Machine{GoVersion: runtime.Version(), CPUs: runtime.NumCPU()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if out, err := exec.Command("swtpm", "--version").Output(); err == nil {
		m.Swtpm, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	}
	return m
}

// The scale targets of issue 6, at 100,000 keys.
const (
	targetKeys        = 100_000
	targetReadyMs     = 500
	targetFirstSignMs = 20
	targetRSSMB       = 150 // decimal megabytes
	targetAddedP50us  = 50
)

// misses lists the targets this run missed, with by how much.
func misses(rep *Report) []string {
	out := []string{}
	for _, c := range rep.Cases {
		if c.Target > 0 && c.Ratio < c.Target {
			out = append(out, fmt.Sprintf("%s: ratio %.2f, target ≥%.2f (%.0f%% short)",
				c.Name, c.Ratio, c.Target, 100*(c.Target-c.Ratio)/c.Target))
		}
		if c.Name == "hot-1-client" && c.AddedP50us != nil && *c.AddedP50us > targetAddedP50us {
			out = append(out, fmt.Sprintf("%s: added p50 %.0f µs, target ≤%d µs", c.Name, *c.AddedP50us, targetAddedP50us))
		}
	}
	for _, s := range rep.Scale {
		if s.Keys < targetKeys {
			continue
		}
		if s.ReadyMs >= targetReadyMs {
			out = append(out, fmt.Sprintf("start-up with %d keys: %.0f ms to READY, target <%d ms", s.Keys, s.ReadyMs, targetReadyMs))
		}
		if s.FirstSignMs >= targetFirstSignMs {
			out = append(out, fmt.Sprintf("first sign with %d keys: %.1f ms, target <%d ms", s.Keys, s.FirstSignMs, targetFirstSignMs))
		}
		if mb := float64(s.MemAfterList.RSSKiB) * 1024 / 1e6; mb >= targetRSSMB {
			out = append(out, fmt.Sprintf("RSS with %d keys after listing: %.0f MB, target <%d MB", s.Keys, mb, targetRSSMB))
		}
	}
	return append(out, streamMisses(rep.Stream)...)
}
