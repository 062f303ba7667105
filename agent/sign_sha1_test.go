package agent

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestSignSHA1: Sign and Verify take hash "sha1" for RSA PKCS #1 v1.5
// only with pkcs11_allow_sha1 (the PKCS#11 token's CKM_RSA_PKCS over a
// SHA-1 DigestInfo); by default both are UNSUPPORTED_ALGORITHM.
func TestSignSHA1(t *testing.T) {
	d := sha1.Sum([]byte("signed with SHA-1"))
	for _, tc := range []struct {
		name string
		cfg  string
		want protocol.Status
	}{
		{"default-refuses", "", protocol.StatusUnsupportedAlgorithm},
		{"pkcs11-allow-sha1", "pkcs11_allow_sha1 = true\n", protocol.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sw := swtpmtest.Start(t)
			opts, logs, audit := testOptions(t, sw, tc.cfg)
			td := runDaemon(t, sw, opts, logs, audit)
			c := dialHello(t, td.socket)
			var rk, ek protocol.GenerateKeyResponse
			if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "rsa", Algorithm: protocol.AlgRSA2048}, &rk); st != protocol.StatusOK {
				t.Fatalf("GenerateKey(rsa) = %v %s", st, msg)
			}
			if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "ec", Algorithm: protocol.AlgECP256}, &ek); st != protocol.StatusOK {
				t.Fatalf("GenerateKey(ec) = %v %s", st, msg)
			}
			var sr protocol.SignResponse
			st, msg := c.call(protocol.OpSign, &protocol.SignRequest{Alias: "rsa", Digest: d[:], Hash: "sha1"}, &sr)
			if st != tc.want {
				t.Fatalf("Sign(rsa, sha1) = %v %s, want %v", st, msg, tc.want)
			}
			sig := sr.Signature
			if sig == nil {
				sig = make([]byte, 256)
			}
			var vr protocol.VerifyResponse
			vst, vmsg := c.call(protocol.OpVerify, &protocol.VerifyRequest{Alias: "rsa", Digest: d[:], Hash: "sha1", Signature: sig}, &vr)
			if vst != tc.want {
				t.Errorf("Verify(rsa, sha1) = %v %s, want %v", vst, vmsg, tc.want)
			}
			if st != protocol.StatusOK {
				return
			}
			pub, err := x509.ParsePKIXPublicKey(rk.Key.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			if err := rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA1, d[:], sr.Signature); err != nil {
				t.Errorf("Sign(rsa, sha1): crypto/rsa says %v", err)
			}
			if !vr.Valid {
				t.Errorf("Verify(rsa, sha1) of its own signature = invalid, want valid")
			}
			for _, bad := range []*protocol.SignRequest{
				{Alias: "ec", Digest: d[:], Hash: "sha1"},
				{Alias: "rsa", Digest: d[:], Hash: "sha1", PSS: true},
				{Alias: "rsa", Digest: d[:10], Hash: "sha1"},
			} {
				if st, msg := c.call(protocol.OpSign, bad, &sr); st != protocol.StatusBadRequest {
					t.Errorf("Sign(%s, sha1, pss %v, %d bytes) = %v %s, want BAD_REQUEST", bad.Alias, bad.PSS, len(bad.Digest), st, msg)
				}
			}
		})
	}
}
