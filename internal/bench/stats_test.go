package bench

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, v := range n {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median-of-four", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99-of-hundred", ms(seq(100)...), 0.99, 99 * time.Millisecond},
		{"p50-of-hundred", ms(seq(100)...), 0.50, 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestDriveStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	_, err := drive(context.Background(), 4, time.Second, func(_ context.Context, w, n int) error {
		if w == 2 && n == 3 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Errorf("drive() error = %v, want %v", err, boom)
	}
}

func TestDriveCountsEveryOp(t *testing.T) {
	s, err := drive(context.Background(), 3, 20*time.Millisecond, func(context.Context, int, int) error {
		time.Sleep(time.Millisecond)
		return nil
	})
	if err != nil {
		t.Fatalf("drive() error = %v, want nil", err)
	}
	if s.Ops == 0 || s.Ops != len(s.Latencies) {
		t.Errorf("drive() = %d ops, %d latencies, want equal and > 0", s.Ops, len(s.Latencies))
	}
}
