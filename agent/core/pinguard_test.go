package core

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"
)

// fakeDA is a TPM lockout counter that the test drives.
type fakeDA struct{ st lockoutState }

func (f *fakeDA) state(context.Context) (lockoutState, error) { return f.st, nil }

func TestPinGuardShares(t *testing.T) {
	dir := t.TempDir()
	da := &fakeDA{st: lockoutState{MaxTries: 3, Interval: time.Hour}}
	g, err := newPinGuard(slog.New(slog.DiscardHandler), dir, da.state)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	g.now = func() time.Time { return now }
	ctx := t.Context()
	key := []byte("0123456789abcdef")
	wrong := func(owner uint32) error {
		done, err := g.begin(ctx, owner, key)
		if err != nil {
			return err
		}
		done(true)
		da.st.Counter++ // the TPM counted it
		return nil
	}
	if err := wrong(65534); err != nil {
		t.Fatalf("first wrong PIN of uid 65534 = %v, want it let through", err)
	}
	if err := wrong(65534); !errors.Is(err, ErrPINLockedOut) {
		t.Errorf("second wrong PIN of uid 65534 = %v, want ErrPINLockedOut (its share is 1 of 3)", err)
	}
	if err := wrong(1000); err != nil {
		t.Errorf("uid 1000's first try after uid 65534's = %v, want it let through", err)
	}
	if err := wrong(2000); !errors.Is(err, ErrPINLockedOut) {
		t.Errorf("a try that would reach the TPM's reserve = %v, want ErrPINLockedOut", err)
	}
	if da.st.Counter >= da.st.MaxTries {
		t.Errorf("TPM counter = %d of %d: the TPM locked out", da.st.Counter, da.st.MaxTries)
	}

	// A restart does not refill uid 65534's share.
	g2, err := newPinGuard(slog.New(slog.DiscardHandler), dir, da.state)
	if err != nil {
		t.Fatal(err)
	}
	g2.now = g.now
	da.st.Counter = 0 // even with the TPM's own counter forgiven
	if _, err := g2.begin(ctx, 65534, key); !errors.Is(err, ErrPINLockedOut) {
		t.Errorf("uid 65534 after a restart = %v, want still ErrPINLockedOut", err)
	}
	now = now.Add(time.Hour + time.Second)
	if done, err := g2.begin(ctx, 65534, key); err != nil {
		t.Errorf("uid 65534 after the TPM's interval = %v, want a try", err)
	} else {
		done(false)
	}
}

func TestPinGuardKeyTries(t *testing.T) {
	da := &fakeDA{} // a TPM without DA limits: only the key's own counter
	g, err := newPinGuard(slog.New(slog.DiscardHandler), t.TempDir(), da.state)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	g.now = func() time.Time { return now }
	key := []byte("0123456789abcdef")
	for i := range defaultKeyTries {
		done, err := g.begin(t.Context(), 1000, key)
		if err != nil {
			t.Fatalf("wrong PIN %d = %v, want a try", i+1, err)
		}
		done(true)
	}
	if _, err := g.begin(t.Context(), 1000, key); !errors.Is(err, ErrPINLockedOut) {
		t.Errorf("try after %d wrong PINs in a row = %v, want ErrPINLockedOut", defaultKeyTries, err)
	}
	if done, err := g.begin(t.Context(), 1000, []byte("another-key-0000")); err != nil {
		t.Errorf("another key = %v, want a try", err)
	} else {
		done(false)
	}
	now = now.Add(2 * time.Second)
	done, err := g.begin(t.Context(), 1000, key)
	if err != nil {
		t.Fatalf("try after the backoff = %v, want one", err)
	}
	done(false) // the right PIN resets the key's counter
	if n := g.ledger.KeyTries["30313233343536373839616263646566"]; n != 0 {
		t.Errorf("key tries after the right PIN = %d, want 0", n)
	}
}

// TestPinGuardCountsAttemptsInFlight: pipelined attempts of one owner
// cannot all pass its share before the first is answered (seen in the
// flood bench: 8 pipelined wrong PINs spent two of swtpm's three tries).
func TestPinGuardCountsAttemptsInFlight(t *testing.T) {
	da := &fakeDA{st: lockoutState{MaxTries: 3, Interval: time.Hour}}
	g, err := newPinGuard(slog.New(slog.DiscardHandler), t.TempDir(), da.state)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("0123456789abcdef")
	done, err := g.begin(t.Context(), 65534, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.begin(t.Context(), 65534, key); !errors.Is(err, ErrPINLockedOut) {
		t.Errorf("a second attempt while the first is at the TPM = %v, want ErrPINLockedOut", err)
	}
	other, err := g.begin(t.Context(), 0, []byte("root-key-0000000"))
	if err != nil {
		t.Errorf("another owner's attempt meanwhile = %v, want one", err)
	} else {
		other(false)
	}
	done(false)
	if d, err := g.begin(t.Context(), 65534, key); err != nil {
		t.Errorf("an attempt after the first was right = %v, want one", err)
	} else {
		d(false)
	}
}
