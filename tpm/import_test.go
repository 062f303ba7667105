package tpm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

func mustKey(t *testing.T, alg Algorithm) crypto.Signer { return benchKey(t, alg) }

func mustParent(t testing.TB, b []byte) *tpm2.TPMTPublic {
	t.Helper()
	p, err := wrap.ParseParent(b)
	if err != nil {
		t.Fatalf("ParseParent = %v", err)
	}
	return p
}

func benchKey(t testing.TB, alg Algorithm) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch alg {
	case ECCP256:
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECCP384:
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestImportKeySigns: an imported key signs, its signature verifies with
// the original public key, and its public key is the original one.
func TestImportKeySigns(t *testing.T) {
	tt := openTest(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		alg  Algorithm
		pin  []byte
	}{
		{"ec-p256", ECCP256, nil},
		{"ec-p384-pin", ECCP384, []byte("1234")},
		{"rsa-2048", RSA2048, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := mustKey(t, tc.alg)
			b, pub, err := tt.ImportKey(ctx, KeySpec{Algorithm: tc.alg, Purposes: PurposeSign, PIN: tc.pin}, k)
			if err != nil {
				t.Fatalf("ImportKey(%v) = %v", tc.alg, err)
			}
			if !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Fatalf("ImportKey(%v) public key differs from the original", tc.alg)
			}
			d, err := Describe(b)
			if err != nil || !d.Movable || d.Exportable {
				t.Fatalf("Describe = %+v, %v, want movable, not exportable", d, err)
			}
			digest := sha256.Sum256([]byte("imported"))
			sig, err := tt.Sign(ctx, b, Auth{PIN: tc.pin}, digest[:], SignOptions{Hash: crypto.SHA256})
			if err != nil {
				t.Fatalf("Sign = %v", err)
			}
			switch p := k.Public().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(p, digest[:], sig) {
					t.Fatalf("ecdsa.VerifyASN1 = false, want true")
				}
			case *rsa.PublicKey:
				if err := rsa.VerifyPKCS1v15(p, crypto.SHA256, digest[:], sig); err != nil {
					t.Fatalf("rsa.VerifyPKCS1v15 = %v, want nil", err)
				}
			}
		})
	}
}

// TestImportHMACKey: an imported HMAC key computes the same tags as the
// key bytes in software.
func TestImportHMACKey(t *testing.T) {
	tt := openTest(t)
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	b, _, err := tt.ImportKey(ctx, KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC}, key)
	if err != nil {
		t.Fatalf("ImportKey(hmac) = %v", err)
	}
	got, err := tt.HMAC(ctx, b, Auth{}, []byte("data"))
	if err != nil {
		t.Fatalf("HMAC = %v", err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("data"))
	if want := m.Sum(nil); !hmac.Equal(got, want) {
		t.Fatalf("HMAC = %x, want %x", got, want)
	}
}

// TestImportWrongSRK: a blob wrapped for another SRK is ErrImport.
func TestImportWrongSRK(t *testing.T) {
	tt := openTest(t)
	other := openTest(t)
	k := mustKey(t, ECCP256)
	pub, sens, err := wrap.Object(k, wrap.Attributes{Sign: true})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := wrap.ParseParent(other.SRKPublic())
	if err != nil {
		t.Fatalf("ParseParent = %v", err)
	}
	w, err := wrap.Wrap(rand.Reader, parent, pub, sens)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tt.ImportWrapped(context.Background(), w); !errors.Is(err, ErrImport) {
		t.Fatalf("ImportWrapped(for another SRK) = %v, want ErrImport", err)
	}
	if _, _, err := other.ImportWrapped(context.Background(), w); err != nil {
		t.Fatalf("ImportWrapped(for its SRK) = %v, want nil", err)
	}
}

// TestImportedKeyCannotBeDuplicated: the empty authPolicy of an imported
// key leaves TPM2_Duplicate nothing to satisfy: it fails with a policy
// error even with PolicyCommandCode(TPM2_Duplicate) in the session.
func TestImportedKeyCannotBeDuplicated(t *testing.T) {
	tt := openTest(t)
	ctx := context.Background()
	b, _, err := tt.ImportKey(ctx, KeySpec{Algorithm: ECCP256, Purposes: PurposeSign}, mustKey(t, ECCP256))
	if err != nil {
		t.Fatalf("ImportKey = %v", err)
	}
	p, err := parseBlob(b)
	if err != nil {
		t.Fatal(err)
	}
	err = tt.do(ctx, "test.Duplicate", func(tr transport.TPM) error {
		k, err := tt.loadLocked(tr, p)
		if err != nil {
			return err
		}
		sess := tpm2.Policy(tpm2.TPMAlgSHA256, 16, func(tr transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
			_, err := tpm2.PolicyCommandCode{PolicySession: h, Code: tpm2.TPMCCDuplicate}.Execute(tr)
			return err
		})
		_, err = tpm2.Duplicate{
			ObjectHandle:    tpm2.AuthHandle{Handle: k.handle, Name: k.name, Auth: sess},
			NewParentHandle: tpm2.TPMRHNull,
			Symmetric:       tpm2.TPMTSymDef{Algorithm: tpm2.TPMAlgNull},
		}.Execute(tr)
		return err
	})
	if err == nil {
		t.Fatalf("TPM2_Duplicate of an imported key = nil, want a policy failure")
	}
	t.Logf("TPM2_Duplicate of an imported key: %v", err)
	if !errors.Is(err, tpm2.TPMRCPolicyFail) && !errors.Is(err, ErrPolicyMismatch) {
		t.Fatalf("TPM2_Duplicate of an imported key = %v, want TPM_RC_POLICY_FAIL", err)
	}
}

// TestImportKeyWithPCRs: a key imported with a PCR binding signs with
// its PCRs given and is refused without them.
func TestImportKeyWithPCRs(t *testing.T) {
	tt := openTest(t)
	ctx := context.Background()
	b, _, err := tt.ImportKey(ctx, KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PCRs: []int{7}, PIN: []byte("pin")}, mustKey(t, ECCP256))
	if err != nil {
		t.Fatalf("ImportKey(pcrs 7) = %v", err)
	}
	digest := sha256.Sum256([]byte("pcr"))
	if _, err := tt.Sign(ctx, b, Auth{PIN: []byte("pin"), PCRs: []int{7}}, digest[:], SignOptions{Hash: crypto.SHA256}); err != nil {
		t.Fatalf("Sign(pcrs 7) = %v, want nil", err)
	}
	if _, err := tt.Sign(ctx, b, Auth{PIN: []byte("pin")}, digest[:], SignOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrPolicyMismatch) {
		t.Fatalf("Sign(no pcrs) = %v, want ErrPolicyMismatch", err)
	}
	if _, err := tt.Sign(ctx, b, Auth{PIN: []byte("bad"), PCRs: []int{7}}, digest[:], SignOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrAuthFail) {
		t.Fatalf("Sign(wrong pin) = %v, want ErrAuthFail", err)
	}
}
