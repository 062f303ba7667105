package core

import (
	"bytes"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
)

func TestPINAuthSchemes(t *testing.T) {
	call := &Call{}
	if got := call.pinAuth(store.PINRaw, []byte("1234")); string(got) != "1234" {
		t.Errorf("pinAuth(raw, 1234) = %q, want the PIN itself (records made before hashing)", got)
	}
	a, b := call.pinAuth(store.PINSHA256, []byte("1234")), call.pinAuth(store.PINSHA256, []byte("1234\x00"))
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Errorf("pinAuth(sha256) = %x and %x, want 32 distinct bytes", a, b)
	}
	if got := call.pinAuth(store.PINSHA256, nil); got != nil {
		t.Errorf("pinAuth(sha256, no PIN) = %x, want none", got)
	}
}
