package tpm

import (
	"crypto"
	"errors"
	"testing"
)

// TestSignOptionsRefused: options that cannot fit the key or the digest are
// refused with ErrInvalid before the TPM is asked.
func TestSignOptionsRefused(t *testing.T) {
	tt := openTest(t)
	ec, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(crypto.SHA256, "m")
	tests := []struct {
		name   string
		digest []byte
		opts   SignOptions
	}{
		{"zero-hash", d, SignOptions{}},
		{"md5", make([]byte, 16), SignOptions{Hash: crypto.MD5}},
		{"pss-with-ec-key", d, SignOptions{Hash: crypto.SHA256, PSS: true}},
		{"digest-too-short", d[:31], SignOptions{Hash: crypto.SHA256}},
		{"digest-of-other-hash", d, SignOptions{Hash: crypto.SHA384}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tt.Sign(ctx(), ec, Auth{}, tc.digest, tc.opts); !errors.Is(err, ErrInvalid) {
				t.Errorf("Sign(%+v) = %v, want ErrInvalid", tc.opts, err)
			}
		})
	}
	if got := (SignOptions{Hash: crypto.SHA384}).HashFunc(); got != crypto.SHA384 {
		t.Errorf("SignOptions.HashFunc() = %v, want SHA-384", got)
	}
}
