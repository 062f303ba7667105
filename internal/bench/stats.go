package bench

import (
	"slices"
	"time"
)

// Sample is what one timed phase measured: ops completed in Elapsed, and the
// latency of each.
type Sample struct {
	Ops       int
	Elapsed   time.Duration
	Latencies []time.Duration
}

// add pools another sample into s.
func (s *Sample) add(o Sample) {
	s.Ops += o.Ops
	s.Elapsed += o.Elapsed
	s.Latencies = append(s.Latencies, o.Latencies...)
}

// Rate is operations per second.
func (s *Sample) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Ops) / s.Elapsed.Seconds()
}

// Stats summarises a pooled sample.
type Stats struct {
	Ops       int     `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
}

func (s *Sample) stats() Stats {
	lat := slices.Clone(s.Latencies)
	slices.Sort(lat)
	return Stats{
		Ops:       s.Ops,
		OpsPerSec: s.Rate(),
		P50us:     micros(percentile(lat, 0.50)),
		P99us:     micros(percentile(lat, 0.99)),
	}
}

// percentile of sorted latencies, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
