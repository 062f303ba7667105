package tpm

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseBlob: any bytes give a parsed blob or ErrBadBlob, never a panic;
// a blob that parses round-trips its public key.
func FuzzParseBlob(f *testing.F) {
	f.Add([]byte{0, 1, 0}, []byte{0, 1, 0}, make([]byte, 34))
	f.Add([]byte{}, []byte{}, []byte{})
	f.Fuzz(func(t *testing.T, public, private, parent []byte) {
		b := &Blob{Public: public, Private: private, ParentName: parent}
		p, err := parseBlob(b)
		if err != nil {
			if !errors.Is(err, ErrBadBlob) {
				t.Fatalf("parseBlob() = %v, want ErrBadBlob", err)
			}
			return
		}
		if p.alg == 0 || (p.alg != Sealed && p.purposes == 0) {
			t.Fatalf("parseBlob() accepted a blob with alg %v purposes %#x", p.alg, p.purposes)
		}
		if _, err := checkUse(p, Auth{PIN: []byte("x"), PCRs: []int{1}}, PurposeSign); err != nil &&
			!errors.Is(err, ErrPurpose) {
			t.Fatalf("use() = %v, want nil or ErrPurpose", err)
		}
	})
}

// FuzzPublicKey: PublicKey never panics and returns only keys Go can use.
func FuzzPublicKey(f *testing.F) {
	f.Add([]byte{0, 0})
	f.Fuzz(func(t *testing.T, public []byte) {
		b := &Blob{Public: public, Private: []byte{0, 1, 0}, ParentName: make([]byte, 34)}
		pub, err := PublicKey(b)
		if err != nil {
			if !errors.Is(err, ErrBadBlob) && !errors.Is(err, ErrPurpose) {
				t.Fatalf("PublicKey() = %v, want ErrBadBlob or ErrPurpose", err)
			}
			return
		}
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			if _, err := k.ECDH(); err != nil {
				t.Fatalf("PublicKey() returned an unusable ECC key: %v", err)
			}
		case *rsa.PublicKey:
			if k.Size() != 256 && k.Size() != 384 {
				t.Fatalf("PublicKey() returned RSA of %d bytes", k.Size())
			}
		default:
			t.Fatalf("PublicKey() = %T", pub)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from real swtpm blobs:
// TPMKEYD_WRITE_CORPUS=1 go test ./tpm -run TestWriteFuzzCorpus
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("TPMKEYD_WRITE_CORPUS") != "1" {
		t.Skip("set TPMKEYD_WRITE_CORPUS=1 to regenerate the fuzz corpus")
	}
	tt := openTest(t)
	specs := map[string]KeySpec{
		"ec-p256-sign":     {Algorithm: ECCP256, Purposes: PurposeSign},
		"ec-p384-agree":    {Algorithm: ECCP384, Purposes: PurposeAgree, PIN: []byte("1")},
		"rsa-2048-sign":    {Algorithm: RSA2048, Purposes: PurposeSign},
		"rsa-3072-decrypt": {Algorithm: RSA3072, Purposes: PurposeDecrypt, PCRs: []int{7}},
	}
	write := func(target, name string, vals ...[]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		s := "go test fuzz v1\n"
		for _, v := range vals {
			s += fmt.Sprintf("[]byte(%q)\n", v)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, spec := range specs {
		b, _, err := tt.CreateKey(ctx(), spec)
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzParseBlob", name, b.Public, b.Private, b.ParentName)
		write("FuzzPublicKey", name, b.Public)
	}
	b, err := tt.Seal(ctx(), []byte("s"), KeySpec{Algorithm: Sealed, PIN: []byte("p")})
	if err != nil {
		t.Fatal(err)
	}
	write("FuzzParseBlob", "sealed", b.Public, b.Private, b.ParentName)
	write("FuzzPublicKey", "sealed", b.Public)
}
