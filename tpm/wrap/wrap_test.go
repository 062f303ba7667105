package wrap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// srk is a standard-template ECC SRK with the public point of k.
func srk(t *testing.T, k *ecdsa.PrivateKey) *tpm2.TPMTPublic {
	t.Helper()
	pt, _ := k.PublicKey.Bytes()
	pub := tpm2.ECCSRKTemplate
	pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: pt[1:33]}, Y: tpm2.TPM2BECCParameter{Buffer: pt[33:]}})
	return &pub
}

// TestParseParent: the PEM form of a standard SRK names the same TPM
// object as its TPM2B_PUBLIC; signing keys and garbage are refused.
func TestParseParent(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub := srk(t, k)
	fromTPM2B, err := ParseParent(tpm2.Marshal(tpm2.New2B(*pub)))
	if err != nil {
		t.Fatalf("ParseParent(TPM2B_PUBLIC) = %v", err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	fromPEM, err := ParseParent(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatalf("ParseParent(PEM) = %v", err)
	}
	a, _ := Name(fromTPM2B)
	b, _ := Name(fromPEM)
	if !bytes.Equal(a, b) {
		t.Fatalf("Name(PEM parent) = %x, want the TPM2B form's %x", b, a)
	}
	signer := *pub
	signer.ObjectAttributes.Restricted, signer.ObjectAttributes.SignEncrypt = false, true
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der384, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	for name, data := range map[string][]byte{
		"signing-key": tpm2.Marshal(tpm2.New2B(signer)),
		"garbage":     {0, 3, 1, 2, 3},
		"empty":       nil,
		"p384-pem":    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der384}),
	} {
		if _, err := ParseParent(data); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
			t.Errorf("ParseParent(%s) = %v, want ErrMalformed or ErrUnsupported", name, err)
		}
	}
}

// TestObjectAndPEM: Object makes movable objects of every supported key,
// refuses the others, and a wrapped blob survives its PEM file.
func TestObjectAndPEM(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	for name, k := range map[string]any{"ec": ec, "rsa": rk, "hmac": bytes.Repeat([]byte{7}, 32)} {
		pub, sens, err := Object(k, Attributes{Sign: true})
		if err != nil {
			t.Fatalf("Object(%s) = %v", name, err)
		}
		a := pub.ObjectAttributes
		if a.FixedTPM || a.FixedParent || a.SensitiveDataOrigin || !a.UserWithAuth || !a.NoDA || len(pub.AuthPolicy.Buffer) != 0 {
			t.Errorf("Object(%s) attributes %+v, want movable, not TPM-made, noDA, no policy", name, a)
		}
		w, err := Wrap(rand.Reader, srk(t, ec), pub, sens)
		if err != nil {
			t.Fatalf("Wrap(%s) = %v", name, err)
		}
		Wipe(&sens)
		w.PINScheme = "sha256"
		back, err := ParsePEM(w.MarshalPEM())
		if err != nil || !bytes.Equal(back.Public, w.Public) || !bytes.Equal(back.Duplicate, w.Duplicate) ||
			!bytes.Equal(back.Seed, w.Seed) || back.PINScheme != "sha256" {
			t.Fatalf("ParsePEM(MarshalPEM(%s)) = %+v, %v; want the same blob", name, back, err)
		}
		if _, _, _, err := back.Check(); err != nil {
			t.Fatalf("Check(%s) = %v", name, err)
		}
	}
	for name, k := range map[string]any{"p521": p521, "short-hmac": []byte{1, 2}, "string": "key"} {
		if _, _, err := Object(k, Attributes{Sign: true}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Object(%s) = %v, want ErrUnsupported", name, err)
		}
	}
}
