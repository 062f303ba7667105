package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// op is one operation of worker w, its n-th.
type op func(ctx context.Context, w, n int) error

// drive runs op in workers goroutines for d and times every call. Calls
// already started when d ends are waited for and counted, so Elapsed is the
// wall time until the last one returned. The first error stops the phase.
func drive(ctx context.Context, workers int, d time.Duration, fn op) (Sample, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lats := make([][]time.Duration, workers)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				t0 := time.Now()
				if err := fn(ctx, w, n); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("worker %d, op %d: %w", w, n, err) })
					cancel()
					return
				}
				lats[w] = append(lats[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	var s Sample
	s.Elapsed = time.Since(start)
	if firstErr != nil {
		return s, firstErr
	}
	for w := range workers {
		s.Latencies = append(s.Latencies, lats[w]...)
	}
	s.Ops = len(s.Latencies)
	if s.Ops == 0 {
		return s, ErrNoOps
	}
	return s, nil
}
