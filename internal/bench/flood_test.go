package bench

import (
	"errors"
	"testing"
	"time"
)

func TestMaxGap(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	pings := []time.Time{at(0), at(5), at(10), at(30), at(35)}
	tests := []struct {
		name          string
		from, to, now float64
		want          float64
	}{
		{"within-regular-pings", 1, 9, 40, 5},
		{"gap-spanning-the-end", 11, 12, 40, 20},
		{"gap-spanning-the-start", 20, 33, 40, 20},
		{"after-the-last-ping-still-open", 36, 38, 44, 9},
		{"before-the-first-ping", -2, -1, 40, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := maxGap(pings, at(tt.from), at(tt.to), at(tt.now)).Seconds()
			if got != tt.want {
				t.Errorf("maxGap(from %v, to %v, now %v) = %v s, want %v s", tt.from, tt.to, tt.now, got, tt.want)
			}
		})
	}
}

func TestTrackerLongestGap(t *testing.T) {
	tr := newTracker()
	start := tr.start
	// Answers out of order, as pipelined answers come: gaps 10, 30, 5 ms.
	for _, d := range []time.Duration{40, 10, 45} {
		tr.times = append(tr.times, start.Add(d*time.Millisecond))
	}
	tr.res.Statuses["OK"] = 3
	res := tr.result()
	if res.LongestGapMs != 30 || res.Requests != 3 {
		t.Errorf("result() = %v ms longest gap, %d requests; want 30 ms, 3", res.LongestGapMs, res.Requests)
	}
}

func TestCheckScenarios(t *testing.T) {
	if err := checkScenarios([]string{ScenarioKeygenQueue, ScenarioWrongPINs}); err != nil {
		t.Errorf("checkScenarios(known) = %v, want nil", err)
	}
	if err := checkScenarios([]string{"fork-bomb"}); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("checkScenarios(fork-bomb) = %v, want ErrUnknownScenario", err)
	}
}
