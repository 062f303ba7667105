package core

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestSSHStatePINCache(t *testing.T) {
	s := newSSHState()
	id := [16]byte{1}
	if _, err := s.cachePIN(1000, id, []byte("auth"), 30*time.Millisecond); err != nil {
		t.Fatalf("cachePIN = %v", err)
	}
	if got, _, ok := s.cachedPIN(1000, id); !ok || !bytes.Equal(got, []byte("auth")) {
		t.Fatalf("cachedPIN = %q, %v, want auth, true", got, ok)
	}
	if _, _, ok := s.cachedPIN(1001, id); ok {
		t.Error("cachedPIN(another uid) = ok, want none")
	}
	time.Sleep(100 * time.Millisecond)
	if _, _, ok := s.cachedPIN(1000, id); ok {
		t.Error("cachedPIN after expiry = ok, want none")
	}
	s.mu.Lock()
	_, still := s.pins[pinCacheKey{1000, id}]
	s.mu.Unlock()
	if still { // dropLocked zeroed and unmapped it
		t.Error("an expired entry is still cached")
	}

	for i := range maxPINsPerUID {
		if _, err := s.cachePIN(7, [16]byte{byte(i)}, []byte("a"), time.Hour); err != nil {
			t.Fatalf("cachePIN #%d = %v", i, err)
		}
	}
	if _, err := s.cachePIN(7, [16]byte{0xff}, []byte("a"), time.Hour); !errors.Is(err, ErrBusy) {
		t.Errorf("cachePIN past the per-uid bound = %v, want %v", err, ErrBusy)
	}
	if _, err := s.cachePIN(8, id, []byte("a"), time.Hour); err != nil {
		t.Errorf("cachePIN of another uid = %v, want nil", err)
	}
	if !s.lock(7, []byte("pw")) {
		t.Fatal("lock = false")
	}
	if _, _, ok := s.cachedPIN(7, [16]byte{0}); ok {
		t.Error("a lock kept the uid's cached PINs")
	}
	if _, _, ok := s.cachedPIN(8, id); !ok {
		t.Error("uid 7's lock dropped uid 8's cached PIN")
	}
	if s.unlock(7, []byte("wrong")) || !s.locked(7) {
		t.Error("unlock(wrong) unlocked")
	}
	if !s.unlock(7, []byte("pw")) || s.locked(7) {
		t.Error("unlock(right) did not unlock")
	}
	s.clear()
	if len(s.pins) != 0 {
		t.Errorf("clear left %d entries", len(s.pins))
	}
}

// TestSSHConfirmSlots: one confirmation at a time per owner, 16 in all.
func TestSSHConfirmSlots(t *testing.T) {
	s := newSSHState()
	rel, err := s.startConfirm(1000)
	if err != nil {
		t.Fatalf("startConfirm(1000) = %v", err)
	}
	if _, err := s.startConfirm(1000); !errors.Is(err, ErrBusy) {
		t.Errorf("startConfirm(1000) again = %v, want %v", err, ErrBusy)
	}
	var rels []func()
	for uid := uint32(1); uid < maxConfirms; uid++ {
		r, err := s.startConfirm(uid)
		if err != nil {
			t.Fatalf("startConfirm(%d) = %v, want a slot (%d in all)", uid, err, maxConfirms)
		}
		rels = append(rels, r)
	}
	if _, err := s.startConfirm(5000); !errors.Is(err, ErrBusy) {
		t.Errorf("startConfirm past %d = %v, want %v", maxConfirms, err, ErrBusy)
	}
	rel()
	if r, err := s.startConfirm(1000); err != nil {
		t.Errorf("startConfirm(1000) after release = %v, want a slot", err)
	} else {
		r()
	}
	for _, r := range rels {
		r()
	}
	if s.nconfirms != 0 || len(s.confirms) != 0 {
		t.Errorf("after every release: %d running, %d owners, want 0, 0", s.nconfirms, len(s.confirms))
	}
}
