package tpm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"testing"
)

var allHashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

func digestOf(h crypto.Hash, msg string) []byte {
	w := h.New()
	w.Write([]byte(msg))
	return w.Sum(nil)
}

// TestKeyOperations covers every algorithm × purpose × operation, each
// result checked with Go's crypto.
func TestKeyOperations(t *testing.T) {
	tt := openTest(t)
	ctx := context.Background()
	tests := []struct {
		name string
		spec KeySpec
	}{
		{"ec-p256-sign", KeySpec{Algorithm: ECCP256, Purposes: PurposeSign}},
		{"ec-p256-sign-pin", KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PIN: []byte("1234")}},
		{"ec-p256-agree", KeySpec{Algorithm: ECCP256, Purposes: PurposeAgree}},
		{"ec-p256-agree-pin", KeySpec{Algorithm: ECCP256, Purposes: PurposeAgree, PIN: []byte("pin\x00")}},
		{"ec-p256-sign-agree", KeySpec{Algorithm: ECCP256, Purposes: PurposeSign | PurposeAgree}},
		{"ec-p384-sign", KeySpec{Algorithm: ECCP384, Purposes: PurposeSign}},
		{"ec-p384-agree", KeySpec{Algorithm: ECCP384, Purposes: PurposeAgree}},
		{"rsa-2048-sign", KeySpec{Algorithm: RSA2048, Purposes: PurposeSign}},
		{"rsa-2048-decrypt", KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt}},
		{"rsa-2048-decrypt-pin", KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt, PIN: []byte("correct horse")}},
		{"rsa-3072-sign", KeySpec{Algorithm: RSA3072, Purposes: PurposeSign}},
		{"rsa-3072-decrypt", KeySpec{Algorithm: RSA3072, Purposes: PurposeDecrypt}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, pub, err := tt.CreateKey(ctx, tc.spec)
			if err != nil {
				t.Fatalf("CreateKey(%v) = %v", tc.spec.Algorithm, err)
			}
			checkAttributes(t, b, tc.spec)
			a := Auth{PIN: tc.spec.PIN}
			if tc.spec.Purposes&PurposeSign != 0 {
				checkSign(t, tt.TPM, b, a, pub)
			}
			if tc.spec.Purposes&PurposeAgree != 0 {
				checkECDH(t, tt.TPM, b, a, pub.(*ecdsa.PublicKey))
			}
			if tc.spec.Purposes&PurposeDecrypt != 0 {
				checkDecrypt(t, tt.TPM, b, a, pub.(*rsa.PublicKey))
			}
		})
	}
}

// checkAttributes asserts the key has exactly the attributes its purposes need.
func checkAttributes(t *testing.T, b *Blob, spec KeySpec) {
	t.Helper()
	p, err := parseBlob(b)
	if err != nil {
		t.Fatalf("parseBlob() = %v", err)
	}
	a := p.public.ObjectAttributes
	wantSign := spec.Purposes&PurposeSign != 0
	wantDecrypt := spec.Purposes&(PurposeDecrypt|PurposeAgree) != 0
	if a.SignEncrypt != wantSign || a.Decrypt != wantDecrypt {
		t.Errorf("attributes sign=%v decrypt=%v, want %v %v", a.SignEncrypt, a.Decrypt, wantSign, wantDecrypt)
	}
	if a.NoDA != (len(spec.PIN) == 0) || !a.FixedTPM || !a.FixedParent || !a.SensitiveDataOrigin || !a.UserWithAuth {
		t.Errorf("attributes %+v for spec with PIN=%v", a, len(spec.PIN) > 0)
	}
}

func checkSign(t *testing.T, tp *TPM, b *Blob, a Auth, pub crypto.PublicKey) {
	t.Helper()
	ctx := context.Background()
	for _, h := range allHashes {
		d := digestOf(h, "message")
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			sig, err := tp.Sign(ctx, b, a, d, SignOptions{Hash: h})
			if err != nil {
				t.Fatalf("Sign(%v) = %v", h, err)
			}
			if !ecdsa.VerifyASN1(k, d, sig) {
				t.Errorf("ecdsa.VerifyASN1(Sign(%v)) = false, want true", h)
			}
		case *rsa.PublicKey:
			sig, err := tp.Sign(ctx, b, a, d, SignOptions{Hash: h})
			if err != nil {
				t.Fatalf("Sign(%v, pkcs1) = %v", h, err)
			}
			if err := rsa.VerifyPKCS1v15(k, h, d, sig); err != nil {
				t.Errorf("rsa.VerifyPKCS1v15(Sign(%v)) = %v, want nil", h, err)
			}
			sig, err = tp.Sign(ctx, b, a, d, SignOptions{Hash: h, PSS: true})
			if err != nil {
				t.Fatalf("Sign(%v, pss) = %v", h, err)
			}
			if err := rsa.VerifyPSS(k, h, d, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
				t.Errorf("rsa.VerifyPSS(Sign(%v)) = %v, want nil", h, err)
			}
		}
	}
}

func checkECDH(t *testing.T, tp *TPM, b *Blob, a Auth, pub *ecdsa.PublicKey) {
	t.Helper()
	curve := ecdh.P256()
	if pub.Curve.Params().BitSize == 384 {
		curve = ecdh.P384()
	}
	peer, err := curve.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ourPub, err := pub.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	want, err := peer.ECDH(ourPub)
	if err != nil {
		t.Fatal(err)
	}
	peerECDSA, err := ecdsa.ParseUncompressedPublicKey(pub.Curve, peer.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, pk := range []crypto.PublicKey{peer.PublicKey(), peerECDSA} {
		got, err := tp.ECDH(ctx(), b, a, pk)
		if err != nil {
			t.Fatalf("ECDH(%T) = %v", pk, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("ECDH(%T) = %x, want %x", pk, got, want)
		}
	}
}

func checkDecrypt(t *testing.T, tp *TPM, b *Blob, a Auth, pub *rsa.PublicKey) {
	t.Helper()
	msg := []byte("a session key, 32 bytes long....")
	oaep, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	pkcs, err := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		s  DecryptScheme
		ct []byte
	}{{OAEPSHA256, oaep}, {PKCS1v15, pkcs}} {
		got, err := tp.Decrypt(ctx(), b, a, tc.ct, tc.s)
		if err != nil {
			t.Fatalf("Decrypt(scheme %d) = %v", tc.s, err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("Decrypt(scheme %d) = %q, want %q", tc.s, got, msg)
		}
	}
	bad := bytes.Clone(oaep)
	bad[len(bad)-1] ^= 1
	if _, err := tp.Decrypt(ctx(), b, a, bad, OAEPSHA256); !errors.Is(err, ErrInvalid) {
		t.Errorf("Decrypt(corrupted OAEP) = %v, want ErrInvalid", err)
	}
}

func ctx() context.Context { return context.Background() }

func TestSealUnseal(t *testing.T) {
	tt := openTest(t)
	tests := []struct {
		name   string
		secret []byte
		pin    []byte
	}{
		{"one-byte", []byte{7}, nil},
		{"max-size", bytes.Repeat([]byte{0xa5}, MaxSealedSize), nil},
		{"with-pin", []byte("s3cret"), []byte("0000")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tt.Seal(ctx(), tc.secret, KeySpec{Algorithm: Sealed, PIN: tc.pin})
			if err != nil {
				t.Fatalf("Seal() = %v", err)
			}
			got, err := tt.Unseal(ctx(), b, Auth{PIN: tc.pin})
			if err != nil || !bytes.Equal(got, tc.secret) {
				t.Errorf("Unseal() = %x, %v, want %x", got, err, tc.secret)
			}
			if _, err := PublicKey(b); !errors.Is(err, ErrPurpose) {
				t.Errorf("PublicKey(sealed) = %v, want ErrPurpose", err)
			}
		})
	}
	for _, n := range []int{0, MaxSealedSize + 1} {
		if _, err := tt.Seal(ctx(), make([]byte, n), KeySpec{Algorithm: Sealed}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Seal(%d bytes) = %v, want ErrInvalid", n, err)
		}
	}
}

func TestWrongPurpose(t *testing.T) {
	tt := openTest(t)
	mk := func(spec KeySpec) *Blob {
		b, _, err := tt.CreateKey(ctx(), spec)
		if err != nil {
			t.Fatalf("CreateKey(%v) = %v", spec.Algorithm, err)
		}
		return b
	}
	ecSign := mk(KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
	ecAgree := mk(KeySpec{Algorithm: ECCP256, Purposes: PurposeAgree})
	rsaSign := mk(KeySpec{Algorithm: RSA2048, Purposes: PurposeSign})
	rsaDec := mk(KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt})
	sealed, err := tt.Seal(ctx(), []byte("x"), KeySpec{Algorithm: Sealed})
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	d := digestOf(crypto.SHA256, "m")
	tests := []struct {
		name string
		op   func() error
	}{
		{"ecdh-with-sign-key", func() error { _, err := tt.ECDH(ctx(), ecSign, Auth{}, peer.PublicKey()); return err }},
		{"sign-with-agree-key", func() error {
			_, err := tt.Sign(ctx(), ecAgree, Auth{}, d, SignOptions{Hash: crypto.SHA256})
			return err
		}},
		{"decrypt-with-sign-key", func() error { _, err := tt.Decrypt(ctx(), rsaSign, Auth{}, make([]byte, 256), OAEPSHA256); return err }},
		{"sign-with-decrypt-key", func() error {
			_, err := tt.Sign(ctx(), rsaDec, Auth{}, d, SignOptions{Hash: crypto.SHA256})
			return err
		}},
		{"decrypt-with-ec-key", func() error { _, err := tt.Decrypt(ctx(), ecAgree, Auth{}, make([]byte, 32), OAEPSHA256); return err }},
		{"sign-with-sealed", func() error {
			_, err := tt.Sign(ctx(), sealed, Auth{}, d, SignOptions{Hash: crypto.SHA256})
			return err
		}},
		{"unseal-a-key", func() error { _, err := tt.Unseal(ctx(), ecSign, Auth{}); return err }},
		{"create-ec-decrypt", func() error {
			_, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeDecrypt})
			return err
		}},
		{"create-rsa-agree", func() error {
			_, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: RSA2048, Purposes: PurposeAgree})
			return err
		}},
		{"create-no-purpose", func() error { _, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP384}); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, ErrPurpose) {
				t.Errorf("%s = %v, want ErrPurpose", tc.name, err)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	tt := openTest(t)
	info := tt.Info()
	if info.Manufacturer != "IBM" {
		t.Errorf("Info().Manufacturer = %q, want IBM (swtpm)", info.Manufacturer)
	}
	if info.Slots < 1 || info.Firmware == "" {
		t.Errorf("Info() = %+v, want slots and firmware", info)
	}
	for _, a := range allAlgorithms {
		if !tt.Supports(a) {
			t.Errorf("Supports(%v) = false on swtpm, want true", a)
		}
	}
	if tt.Supports(Algorithm(99)) {
		t.Errorf("Supports(99) = true, want false")
	}
	if _, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: Algorithm(99), Purposes: PurposeSign}); !errors.Is(err, ErrUnsupported) {
		t.Errorf("CreateKey(99) = %v, want ErrUnsupported", err)
	}
	r, err := tt.Random(ctx(), 100)
	if err != nil || len(r) != 100 {
		t.Errorf("Random(100) = %d bytes, %v", len(r), err)
	}
	if err := tt.Ping(ctx()); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	if len(tt.SRKName()) != 34 {
		t.Errorf("SRKName() = %x, want a 34-byte SHA-256 name", tt.SRKName())
	}
}

func TestUnsupportedAlgorithmRefusedBeforeTPM(t *testing.T) {
	tt := openTest(t)
	delete(tt.algs, RSA3072) // as on a TPM without RSA-3072
	_, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: RSA3072, Purposes: PurposeSign})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("CreateKey(rsa-3072) = %v, want ErrUnsupported", err)
	}
}
