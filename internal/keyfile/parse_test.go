package keyfile

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

func mustEC(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func toPKCS8(t testing.TB, k any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// withOuterPublic adds a PKCS #8 v2 public key (RFC 5958 [1]) to der.
func withOuterPublic(t *testing.T, der, pub []byte) []byte {
	var p pkcs8
	if _, err := asn1.Unmarshal(der, &p); err != nil {
		t.Fatal(err)
	}
	p.Version = 1
	p.PublicKey = asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}
	out, err := asn1.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestParse(t *testing.T) {
	ec := mustEC(t, elliptic.P256())
	other := mustEC(t, elliptic.P256())
	otherPub, _ := other.PublicKey.Bytes()
	ownPub, _ := ec.PublicKey.Bytes()
	sec1, _ := x509.MarshalECPrivateKey(ec)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"pkcs8-der", toPKCS8(t, ec), nil},
		{"pkcs8-pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: toPKCS8(t, ec)}), nil},
		{"sec1-der", sec1, nil},
		{"sec1-pem-after-params", append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})...), nil},
		{"pkcs1-der", x509.MarshalPKCS1PrivateKey(rsaKey), nil},
		{"pkcs8-rsa", toPKCS8(t, rsaKey), nil},
		{"p384", toPKCS8(t, mustEC(t, elliptic.P384())), nil},
		{"pkcs8-v2-own-public", withOuterPublic(t, toPKCS8(t, ec), ownPub), nil},
		{"pkcs8-v2-other-public", withOuterPublic(t, toPKCS8(t, ec), otherPub), ErrMismatch},
		{"p521", toPKCS8(t, mustEC(t, elliptic.P521())), ErrUnsupported},
		{"rsa-1024", x509.MarshalPKCS1PrivateKey(small), ErrUnsupported},
		{"garbage", []byte("not a key at all"), ErrMalformed},
		{"empty", nil, ErrMalformed},
		{"pem-no-key", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.data, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%s) = %v, want %v", tc.name, err, tc.want)
			}
		})
	}
}

// TestParseOpenSSLEncrypted: PBES2 files written by openssl decrypt with
// the right passphrase, and give ErrPassphrase with a wrong one and
// ErrEncrypted with none.
func TestParseOpenSSLEncrypted(t *testing.T) {
	swtpmtest.RequireTool(t, "openssl")
	dir := t.TempDir()
	plain := filepath.Join(dir, "k.pem")
	run := func(args ...string) {
		if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", plain)
	for _, tc := range []struct{ name, cipher, prf string }{
		{"aes256-sha256", "aes256", "hmacWithSHA256"},
		{"aes128-sha1", "aes128", "hmacWithSHA1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := filepath.Join(dir, tc.name+".pem")
			run("pkcs8", "-topk8", "-v2", tc.cipher, "-v2prf", tc.prf, "-in", plain, "-out", enc, "-passout", "pass:pw")
			data, _ := os.ReadFile(enc)
			pw := func(s string) Passphrase { return func() ([]byte, error) { return []byte(s), nil } }
			if _, err := Parse(data, pw("pw")); err != nil {
				t.Fatalf("Parse(right passphrase) = %v, want nil", err)
			}
			if _, err := Parse(data, pw("wrong")); !errors.Is(err, ErrPassphrase) {
				t.Fatalf("Parse(wrong passphrase) = %v, want ErrPassphrase", err)
			}
			if _, err := Parse(data, nil); !errors.Is(err, ErrEncrypted) {
				t.Fatalf("Parse(no passphrase) = %v, want ErrEncrypted", err)
			}
		})
	}
}

// FuzzParse: no input makes Parse panic; every error wraps a sentinel.
func FuzzParse(f *testing.F) {
	f.Add(toPKCS8(f, mustEC(f, elliptic.P256())))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := Parse(data, func() ([]byte, error) { return []byte("pw"), nil })
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) &&
			!errors.Is(err, ErrMismatch) && !errors.Is(err, ErrPassphrase) && !errors.Is(err, ErrEncrypted) {
			t.Fatalf("Parse = %v, wraps no sentinel", err)
		}
	})
}
