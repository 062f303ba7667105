package tpm

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

func writePEM(t *testing.T, dir string, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runOpenSSL(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return out
}

// TestOpenSSLVerify checks TPM signatures with the openssl command.
func TestOpenSSLVerify(t *testing.T) {
	swtpmtest.RequireTool(t, "openssl")
	tt := openTest(t)
	tests := []struct {
		name string
		spec KeySpec
		pss  bool
		args []string
	}{
		{"ec-p256-sha256", KeySpec{Algorithm: ECCP256, Purposes: PurposeSign}, false, nil},
		{"ec-p384-sha256", KeySpec{Algorithm: ECCP384, Purposes: PurposeSign, PIN: []byte("1")}, false, nil},
		{"rsa-2048-pkcs1", KeySpec{Algorithm: RSA2048, Purposes: PurposeSign}, false, nil},
		{"rsa-2048-pss", KeySpec{Algorithm: RSA2048, Purposes: PurposeSign}, true,
			[]string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			b, pub, err := tt.CreateKey(ctx(), tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("signed by the TPM, checked by openssl\n")
			d := digestOf(crypto.SHA256, string(msg))
			sig, err := tt.Sign(ctx(), b, Auth{PIN: tc.spec.PIN}, d, SignOptions{Hash: crypto.SHA256, PSS: tc.pss})
			if err != nil {
				t.Fatalf("Sign() = %v", err)
			}
			msgFile, sigFile := filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
			os.WriteFile(msgFile, msg, 0o600)
			os.WriteFile(sigFile, sig, 0o600)
			args := append([]string{"dgst", "-sha256", "-verify", writePEM(t, dir, pub), "-signature", sigFile}, tc.args...)
			out := runOpenSSL(t, append(args, msgFile)...)
			if !bytes.Contains(out, []byte("Verified OK")) {
				t.Errorf("openssl dgst -verify = %q, want Verified OK", out)
			}
		})
	}
}

// TestOpenSSLEncrypt decrypts ciphertexts made by openssl pkeyutl.
func TestOpenSSLEncrypt(t *testing.T) {
	swtpmtest.RequireTool(t, "openssl")
	tt := openTest(t)
	b, pub, err := tt.CreateKey(ctx(), KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		scheme DecryptScheme
		opts   []string
	}{
		{"oaep-sha256", OAEPSHA256, []string{"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"}},
		{"pkcs1", PKCS1v15, []string{"-pkeyopt", "rsa_padding_mode:pkcs1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			msg := []byte("wrapped key material")
			in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
			os.WriteFile(in, msg, 0o600)
			args := append([]string{"pkeyutl", "-encrypt", "-pubin", "-inkey", writePEM(t, dir, pub.(*rsa.PublicKey)), "-in", in, "-out", out}, tc.opts...)
			runOpenSSL(t, args...)
			ct, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.Decrypt(ctx(), b, Auth{}, ct, tc.scheme)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("Decrypt(openssl %s) = %q, %v, want %q", tc.name, got, err, msg)
			}
		})
	}
}
