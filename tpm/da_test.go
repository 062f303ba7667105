package tpm

import (
	"crypto"
	"errors"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// TestDAState: the lockout parameters are read at Open and fresh on
// demand; after N wrong PINs the counter reads N, and at MaxTries the TPM
// is in lockout.
func TestDAState(t *testing.T) {
	tt := openTest(t)
	if got := tt.Info().DA; got.MaxTries == 0 || got.Counter != 0 || got.InLockout {
		t.Errorf("Info().DA at Open = %+v, want MaxTries > 0, Counter 0, not in lockout", got)
	}
	const maxTries, interval, recovery = 4, 1000, 600
	err := tt.do(ctx(), "test", func(tr transport.TPM) error {
		return lockoutCommand(tr, tpm2.TPMCCDictionaryAttackParameters, maxTries, interval, recovery)
	})
	if err != nil {
		t.Fatalf("DictionaryAttackParameters = %v", err)
	}
	defer resetLockout(t, tt)
	want := DAState{MaxTries: maxTries, Interval: interval * time.Second, Recovery: recovery * time.Second}
	if got, err := tt.DAState(ctx()); err != nil || got != want {
		t.Errorf("DAState() after DictionaryAttackParameters = %+v, %v, want %+v", got, err, want)
	}
	b, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PIN: []byte("right")})
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(crypto.SHA256, "m")
	for n := 1; n <= maxTries; n++ {
		if _, err := tt.Sign(ctx(), b, Auth{PIN: []byte("wrong")}, d, SignOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrAuthFail) {
			t.Fatalf("wrong PIN #%d: Sign() = %v, want ErrAuthFail", n, err)
		}
		want.Counter, want.InLockout = uint32(n), n == maxTries
		if got, err := tt.DAState(ctx()); err != nil || got != want {
			t.Errorf("DAState() after %d wrong PINs = %+v, %v, want %+v", n, got, err, want)
		}
	}
	resetLockout(t, tt)
	want.Counter, want.InLockout = 0, false
	if got, err := tt.DAState(ctx()); err != nil || got != want {
		t.Errorf("DAState() after DictionaryAttackLockReset = %+v, %v, want %+v", got, err, want)
	}
}
