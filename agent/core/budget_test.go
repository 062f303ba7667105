package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestByteBudget(t *testing.T) {
	lim := Limits{MaxInflightBytes: 300, MaxInflightBytesUID: 200}
	b := newByteBudget()
	ctx := t.Context()
	r1, _, err := b.hold(ctx, 1, 150, lim)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := b.hold(short, 1, 100, lim); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hold over owner 1's budget = %v, want to wait until the deadline", err)
	}
	r2, _, err := b.hold(ctx, 2, 150, lim)
	if err != nil {
		t.Fatalf("owner 2 hold = %v, want its own budget", err)
	}
	got := make(chan error, 1)
	go func() {
		r, _, err := b.hold(ctx, 3, 50, lim) // total 300 full: waits
		if err == nil {
			r()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("hold over the total = %v before any release, want a wait", err)
	case <-time.After(20 * time.Millisecond):
	}
	r1()
	if err := <-got; err != nil {
		t.Errorf("hold after a release = %v, want nil", err)
	}
	r2()
	if total, mine := b.used(1); total != 0 || mine != 0 {
		t.Errorf("used(1) after all releases = %d, %d, want 0, 0", total, mine)
	}
	if r, _, err := b.hold(ctx, 1, 10_000, lim); err != nil {
		t.Errorf("hold of a frame larger than the owner budget = %v, want it to fit alone", err)
	} else {
		r()
	}
}

// slowTPM makes every Sign of the real TPM take at least delay, as if the

// TPM were busy with another caller.

// TestMemoryBudgetBackpressure: pipelined 1 MiB signs on several

// connections while the TPM is slow never hold more request bytes than

// the owner's budget; the rest wait unread, and all are answered.
