package client_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol/aeadfmt"
)

func openssl(t *testing.T, args ...string) []byte {
	t.Helper()
	swtpmtest.RequireTool(t, "openssl")
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRealImportOpenSSLKeys: keys made by `openssl genpkey`, in every
// format ImportKey reads, are imported; their public key is the
// original's, and `openssl pkeyutl -verify` accepts their signatures with
// the original public key.
func TestRealImportOpenSSLKeys(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	dir := t.TempDir()
	gen := func(name string, args ...string) string {
		p := filepath.Join(dir, name+".pem")
		openssl(t, append([]string{"genpkey", "-out", p}, args...)...)
		return p
	}
	ec256 := gen("ec256", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256")
	ec384 := gen("ec384", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384")
	rsa2k := gen("rsa2048", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048")
	rsa3k := gen("rsa3072", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072")
	conv := func(in, name string, args ...string) string {
		p := filepath.Join(dir, name)
		openssl(t, append(append([]string{}, args...), "-in", in, "-out", p)...)
		return p
	}
	tests := []struct {
		name, file string
	}{
		{"ec-p256-pkcs8-pem", ec256},
		{"ec-p256-pkcs8-der", conv(ec256, "ec256.p8.der", "pkcs8", "-topk8", "-nocrypt", "-outform", "DER")},
		{"ec-p256-sec1-pem", conv(ec256, "ec256.sec1.pem", "ec")},
		{"ec-p384-sec1-der", conv(ec384, "ec384.sec1.der", "ec", "-outform", "DER")},
		{"rsa-2048-pkcs8-pem", rsa2k},
		{"rsa-2048-pkcs1-pem", conv(rsa2k, "rsa.p1.pem", "rsa", "-traditional")},
		{"rsa-2048-pkcs1-der", conv(rsa2k, "rsa.p1.der", "rsa", "-traditional", "-outform", "DER")},
		{"rsa-3072-pkcs8-pem", rsa3k},
	}
	msg := filepath.Join(dir, "msg")
	if err := os.WriteFile(msg, []byte("signed by an imported key"), 0o600); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(readFile(t, msg))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alias := "imp-" + tc.name
			k, err := c.ImportKey(ctx, alias, readFile(t, tc.file))
			if err != nil {
				t.Fatalf("ImportKey(%s) = %v, want nil", tc.name, err)
			}
			t.Cleanup(func() { c.DeleteKey(ctx, alias) })
			if k.Origin != "imported" {
				t.Errorf("ImportKey(%s).Origin = %q, want imported", tc.name, k.Origin)
			}
			pubPEM := openssl(t, "pkey", "-in", tc.file, "-pubout")
			block, _ := pem.Decode(pubPEM)
			if block == nil || !bytes.Equal(block.Bytes, k.PublicKeyDER) {
				t.Fatalf("ImportKey(%s) public key = %x, want the original's %x", tc.name, k.PublicKeyDER, block.Bytes)
			}
			sig, err := c.Sign(ctx, alias, crypto.SHA256, digest[:])
			if err != nil {
				t.Fatalf("Sign = %v", err)
			}
			sigFile := filepath.Join(dir, tc.name+".sig")
			os.WriteFile(sigFile, sig, 0o600)
			pubFile := filepath.Join(dir, tc.name+".pub")
			os.WriteFile(pubFile, pubPEM, 0o600)
			out := openssl(t, "dgst", "-sha256", "-verify", pubFile, "-signature", sigFile, msg)
			if !bytes.Contains(out, []byte("Verified OK")) {
				t.Fatalf("openssl dgst -verify = %s, want Verified OK", out)
			}
		})
	}
	t.Run("rsa-decrypts-openssl-ciphertext", func(t *testing.T) {
		alias := "imp-rsa-decrypt"
		if _, err := c.ImportKey(ctx, alias, readFile(t, rsa2k), client.WithPurposes(client.PurposeDecrypt)); err != nil {
			t.Fatalf("ImportKey(decrypt) = %v", err)
		}
		t.Cleanup(func() { c.DeleteKey(ctx, alias) })
		secret := filepath.Join(dir, "secret")
		os.WriteFile(secret, []byte("for the imported key only"), 0o600)
		ct := filepath.Join(dir, "ct")
		openssl(t, "pkeyutl", "-encrypt", "-inkey", rsa2k, "-in", secret, "-out", ct,
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
		got, err := c.Decrypt(ctx, alias, readFile(t, ct))
		if err != nil {
			t.Fatalf("Decrypt = %v", err)
		}
		if want := readFile(t, secret); !bytes.Equal(got, want) {
			t.Fatalf("Decrypt = %q, want %q", got, want)
		}
	})
}

// TestRealImportBadInput: every kind of bad key gives a typed error and
// leaves no record.
func TestRealImportBadInput(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	dir := t.TempDir()
	gen := func(name string, args ...string) []byte {
		p := filepath.Join(dir, name+".pem")
		openssl(t, append([]string{"genpkey", "-out", p}, args...)...)
		return readFile(t, p)
	}
	p521 := gen("p521", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521")
	k1 := gen("k1", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1")
	rsa1k := gen("rsa1024", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024")
	ed := gen("ed25519", "-algorithm", "ED25519")
	enc := gen("enc", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:secret")
	mismatch := mismatchedSEC1(t, gen("a", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
		gen("b", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"))
	garbage := make([]byte, 200)
	rand.Read(garbage)
	tests := []struct {
		name string
		key  []byte
		want error
	}{
		{"p-521", p521, client.ErrUnsupportedAlgorithm},
		{"secp256k1", k1, client.ErrUnsupportedAlgorithm},
		{"rsa-1024", rsa1k, client.ErrUnsupportedAlgorithm},
		{"ed25519", ed, client.ErrUnsupportedAlgorithm},
		{"garbage", garbage, client.ErrImportFailed},
		{"encrypted", enc, client.ErrImportFailed},
		{"mismatched-public", mismatch, client.ErrImportFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			alias := "bad-" + tc.name
			if _, err := c.ImportKey(ctx, alias, tc.key); !errors.Is(err, tc.want) {
				t.Fatalf("ImportKey(%s) = %v, want %v", tc.name, err, tc.want)
			}
			if _, err := c.Key(ctx, alias); !errors.Is(err, client.ErrKeyNotFound) {
				t.Fatalf("Key(%s) after a refused import = %v, want ErrKeyNotFound", alias, err)
			}
		})
	}
}

// mismatchedSEC1 is key a's private scalar with key b's public point, as
// a SEC1 PEM.
func mismatchedSEC1(t *testing.T, a, b []byte) []byte {
	t.Helper()
	parse := func(p []byte) *ecdsa.PrivateKey {
		block, _ := pem.Decode(p)
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return k.(*ecdsa.PrivateKey)
	}
	ka, kb := parse(a), parse(b)
	der, err := x509.MarshalECPrivateKey(ka)
	if err != nil {
		t.Fatal(err)
	}
	var sec1 struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
		PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
	}
	if _, err := asn1.Unmarshal(der, &sec1); err != nil {
		t.Fatal(err)
	}
	pt, _ := kb.PublicKey.Bytes()
	sec1.PublicKey = asn1.BitString{Bytes: pt, BitLength: 8 * len(pt)}
	out, err := asn1.Marshal(sec1)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: out})
}

// TestRealImportHMACKey: raw HMAC key bytes become version 1 of an
// hmac-sha256 key, whose TPM-made tags equal crypto/hmac's; aes-256-gcm
// is refused for now.
func TestRealImportHMACKey(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	k, err := c.ImportHMACKey(ctx, "imp-hmac", key)
	if err != nil {
		t.Fatalf("ImportHMACKey = %v", err)
	}
	t.Cleanup(func() { c.DeleteKey(ctx, "imp-hmac") })
	if k.Algorithm != client.AlgHMACSHA256 || len(k.Versions) != 1 || k.Origin != "imported" {
		t.Fatalf("ImportHMACKey = %+v, want hmac-sha256 version 1, origin imported", k)
	}
	tag, version, err := c.MAC(ctx, "imp-hmac", []byte("data"))
	if err != nil || version != 1 {
		t.Fatalf("MAC = %x, %d, %v", tag, version, err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("data"))
	if want := m.Sum(nil); !bytes.Equal(tag, want) {
		t.Fatalf("MAC = %x, want %x", tag, want)
	}
	if _, err := c.ImportHMACKey(ctx, "imp-short", key[:8]); !errors.Is(err, client.ErrImportFailed) {
		t.Fatalf("ImportHMACKey(8 bytes) = %v, want ErrImportFailed", err)
	}
}

// TestRealImportAESKey: 32 raw bytes become version 1 of an aes-256-gcm
// key; what the agent encrypts with it opens offline with the working key
// derived from those bytes as Appendix A says, and through the agent.
func TestRealImportAESKey(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	k, err := c.ImportAESKey(ctx, "imp-aes", key)
	if err != nil {
		t.Fatalf("ImportAESKey = %v", err)
	}
	t.Cleanup(func() { c.DeleteKey(ctx, "imp-aes") })
	if k.Algorithm != client.AlgAES256GCM || k.Origin != "imported" || len(k.Versions) != 1 {
		t.Fatalf("ImportAESKey = %+v, want aes-256-gcm version 1, origin imported", k)
	}
	ct, err := c.AEADEncrypt(ctx, "imp-aes", []byte("byok"), map[string]string{"app": "t"})
	if err != nil {
		t.Fatalf("AEADEncrypt = %v", err)
	}
	if pt, err := c.AEADDecrypt(ctx, ct, map[string]string{"app": "t"}); err != nil || string(pt) != "byok" {
		t.Fatalf("AEADDecrypt = %q, %v, want byok", pt, err)
	}
	var id [aeadfmt.KeyIDSize]byte
	copy(id[:], k.ID)
	m := hmac.New(sha256.New, key)
	m.Write(aeadfmt.WorkingKeyInput(id, 1))
	if pt, err := aeadfmt.Open(m.Sum(nil), ct, map[string]string{"app": "t"}); err != nil || string(pt) != "byok" {
		t.Fatalf("aeadfmt.Open with the offline working key = %q, %v, want byok", pt, err)
	}
	if _, err := c.ImportAESKey(ctx, "imp-aes-16", key[:16]); !errors.Is(err, client.ErrImportFailed) {
		t.Fatalf("ImportAESKey(16 bytes) = %v, want ErrImportFailed", err)
	}
}
