package pkcs11_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// TestPKCS11Tool drives the token with OpenSC's pkcs11-tool through
// Debian's p11-kit-client.so, and checks every result with openssl. One
// daemon and swtpm serve all subtests.
func TestPKCS11Tool(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	c := s.dial(t)
	ec, err := c.GenerateKey(ctx, "web", client.AlgECP256)
	if err != nil {
		t.Fatalf("GenerateKey(web) = %v", err)
	}
	rsaKey, err := c.GenerateKey(ctx, "rsa", client.AlgRSA2048, client.WithPurposes(client.PurposeSign, client.PurposeDecrypt))
	if err != nil {
		t.Fatalf("GenerateKey(rsa) = %v", err)
	}
	ecPub := s.file(t, "web.pub", pubPEM(t, ec.PublicKey))
	rsaPub := s.file(t, "rsa.pub", pubPEM(t, rsaKey.PublicKey))
	ecID, rsaID := hex.EncodeToString(ec.ID), hex.EncodeToString(rsaKey.ID)
	msg := s.file(t, "msg", []byte("a message for the token\n"))
	d := sha256.Sum256([]byte("a message for the token\n"))
	digest := s.file(t, "msg.sha256", d[:])

	t.Run("list-slots", func(t *testing.T) {
		out := s.p11(t, "-L")
		for _, want := range []string{"token label        : tpmkeyd", "token manufacturer : tpmkeyd", "token model        : TPM 2.0 keystore", "serial num         : uid0"} {
			if !strings.Contains(out, want) {
				t.Errorf("pkcs11-tool -L = %q, want it to contain %q", out, want)
			}
		}
	})
	t.Run("list-objects", func(t *testing.T) {
		if _, err := c.GenerateKey(ctx, "mac", client.AlgHMACSHA256); err != nil {
			t.Fatal(err)
		}
		if _, err := c.GenerateKey(ctx, "aead", client.AlgAES256GCM); err != nil {
			t.Fatal(err)
		}
		out := s.p11(t, "-O")
		if !strings.Contains(out, "Secret Key Object") || !strings.Contains(out, "label:      mac") {
			t.Errorf("pkcs11-tool -O = %q, want the hmac-sha256 key as a secret key object", out)
		}
		if !strings.Contains(out, "Secret Key Object; AES length 32") || !strings.Contains(out, "label:      aead") {
			t.Errorf("pkcs11-tool -O = %q, want the aes-256-gcm key as an AES secret key object", out)
		}
		for _, want := range []string{"Private Key Object; EC", "Public Key Object; EC", "Private Key Object; RSA", "Public Key Object; RSA 2048 bits",
			"label:      web", "ID:         " + ecID, "sensitive, always sensitive, never extractable, local"} {
			if !strings.Contains(out, want) {
				t.Errorf("pkcs11-tool -O = %q, want it to contain %q", out, want)
			}
		}
	})
	t.Run("imported-key-is-not-local", func(t *testing.T) {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := c.ImportPrivateKey(ctx, "imported", priv)
		if err != nil {
			t.Fatalf("ImportPrivateKey = %v", err)
		}
		var block string
		for _, b := range strings.Split(s.p11(t, "-O", "--type", "privkey"), "Private Key Object") {
			if strings.Contains(b, "label:      imported") {
				block = b
			}
		}
		if !strings.Contains(block, "Access:     sensitive") || strings.Contains(block, "local") || strings.Contains(block, "always sensitive") {
			t.Errorf("pkcs11-tool -O of an imported key = %q, want sensitive, not local or always sensitive", block)
		}
		// It signs like any other key.
		sig := filepath.Join(s.Dir, "imported.sig")
		s.p11(t, "--sign", "-m", "ECDSA", "--id", hex.EncodeToString(k.ID), "-i", digest, "-o", sig, "--signature-format", "openssl")
		s.openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", s.file(t, "imported.pub", pubPEM(t, &priv.PublicKey)), "-in", digest, "-sigfile", sig)
	})
	t.Run("mechanisms", func(t *testing.T) {
		// What p11-kit 0.24.1's client passes on (docs/PKCS11.md §2).
		out := s.p11(t, "-M")
		for _, want := range []string{"ECDSA, keySize={256,384}, hw, sign, verify", "RSA-PKCS-OAEP, keySize={2048,3072}, hw, encrypt, decrypt",
			"RSA-PKCS-PSS, keySize={2048,3072}, hw, sign, verify", "ECDSA-KEY-PAIR-GEN, keySize={256,384}, hw, generate_key_pair"} {
			if !strings.Contains(out, want) {
				t.Errorf("pkcs11-tool -M = %q, want it to contain %q", out, want)
			}
		}
	})
	t.Run("sign-ecdsa-p384", func(t *testing.T) {
		k, err := c.GenerateKey(ctx, "ec384", client.AlgECP384)
		if err != nil {
			t.Fatal(err)
		}
		pub := s.file(t, "ec384.pub", pubPEM(t, k.PublicKey))
		for _, h := range []string{"sha1", "sha256", "sha384", "sha512"} {
			in := filepath.Join(s.Dir, "p384."+h)
			s.openssl(t, "dgst", "-"+h, "-binary", "-out", in, msg)
			sig := in + ".sig"
			s.p11(t, "--sign", "-m", "ECDSA", "--id", hex.EncodeToString(k.ID), "-i", in, "-o", sig, "--signature-format", "openssl")
			s.openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", in, "-sigfile", sig)
		}
	})
	t.Run("sign-ecdsa", func(t *testing.T) {
		for _, h := range []string{"sha1", "sha256", "sha384", "sha512"} {
			in := filepath.Join(s.Dir, "ecdsa."+h)
			s.openssl(t, "dgst", "-"+h, "-binary", "-out", in, msg)
			sig := filepath.Join(s.Dir, "ecdsa."+h+".sig")
			s.p11(t, "--sign", "-m", "ECDSA", "--id", ecID, "-i", in, "-o", sig, "--signature-format", "openssl")
			s.openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", ecPub, "-in", in, "-sigfile", sig)
		}
	})
	t.Run("sign-rsa-pkcs1", func(t *testing.T) {
		sig := filepath.Join(s.Dir, "rsa.sig")
		s.p11(t, "--sign", "-m", "SHA256-RSA-PKCS", "--id", rsaID, "-i", msg, "-o", sig)
		s.openssl(t, "dgst", "-sha256", "-verify", rsaPub, "-signature", sig, msg)
	})
	t.Run("sign-rsa-pss", func(t *testing.T) {
		sig := filepath.Join(s.Dir, "pss.sig")
		s.p11(t, "--sign", "-m", "RSA-PKCS-PSS", "--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256", "--salt-len", "-1",
			"--id", rsaID, "-i", digest, "-o", sig)
		s.openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", rsaPub, "-in", digest, "-sigfile", sig,
			"-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:digest")
	})
	t.Run("verify", func(t *testing.T) {
		// pkcs11-tool signs and verifies through the token (C_Verify, the
		// core's Verify on the stored public key); a changed signature
		// is CKR_SIGNATURE_INVALID, which pkcs11-tool prints as "Invalid
		// signature" (and exits 0).
		for _, tc := range []struct {
			name, id string
			args     []string
			in       string
		}{
			{"ecdsa", ecID, []string{"-m", "ECDSA"}, digest},
			{"sha256-rsa-pkcs", rsaID, []string{"-m", "SHA256-RSA-PKCS"}, msg},
			{"rsa-pkcs-pss", rsaID, []string{"-m", "RSA-PKCS-PSS", "--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256", "--salt-len", "-1"}, digest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				sig := filepath.Join(s.Dir, "verify-"+tc.name+".sig")
				s.p11(t, append([]string{"--sign", "--id", tc.id, "-i", tc.in, "-o", sig}, tc.args...)...)
				out := s.p11(t, append([]string{"--verify", "--id", tc.id, "-i", tc.in, "--signature-file", sig}, tc.args...)...)
				if !strings.Contains(out, "Signature is valid") {
					t.Errorf("pkcs11-tool --verify %s = %q, want Signature is valid", tc.name, out)
				}
				b, err := os.ReadFile(sig)
				if err != nil {
					t.Fatal(err)
				}
				b[len(b)/2] ^= 1
				bad := s.file(t, "verify-"+tc.name+".bad", b)
				r := s.run(t, nil, nil, "pkcs11-tool", append([]string{"--module", clientModule, "--verify", "--id", tc.id, "-i", tc.in, "--signature-file", bad}, tc.args...)...)
				if out := r.stdout + r.stderr; !strings.Contains(out, "Invalid signature") || strings.Contains(out, "Signature is valid") {
					t.Errorf("pkcs11-tool --verify %s with a changed signature = exit %d %q, want Invalid signature", tc.name, r.code, out)
				}
			})
		}
	})
	t.Run("sign-pss-other-salt", func(t *testing.T) {
		r := s.run(t, nil, nil, "pkcs11-tool", "--module", clientModule, "--sign", "-m", "RSA-PKCS-PSS", "--hash-algorithm", "SHA256",
			"--mgf", "MGF1-SHA256", "--salt-len", "20", "--id", rsaID, "-i", digest, "-o", filepath.Join(s.Dir, "x.sig"))
		if r.code == 0 || !strings.Contains(r.stderr, "CKR_MECHANISM_PARAM_INVALID") {
			t.Errorf("PSS with a 20-byte salt = exit %d %q, want CKR_MECHANISM_PARAM_INVALID", r.code, r.stderr)
		}
	})
	t.Run("decrypt-oaep", func(t *testing.T) {
		ct := filepath.Join(s.Dir, "oaep.bin")
		s.openssl(t, "pkeyutl", "-encrypt", "-pubin", "-inkey", rsaPub, "-in", msg, "-out", ct,
			"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256")
		out := s.p11(t, "--decrypt", "-m", "RSA-PKCS-OAEP", "--hash-algorithm", "SHA256", "--mgf", "MGF1-SHA256", "--id", rsaID, "-i", ct)
		if !strings.Contains(out, "a message for the token") {
			t.Errorf("pkcs11-tool --decrypt (OAEP) = %q, want the message", out)
		}
	})
	t.Run("decrypt-pkcs1", func(t *testing.T) {
		ct := filepath.Join(s.Dir, "pkcs1.bin")
		s.openssl(t, "pkeyutl", "-encrypt", "-pubin", "-inkey", rsaPub, "-in", msg, "-out", ct)
		out := s.p11(t, "--decrypt", "-m", "RSA-PKCS", "--id", rsaID, "-i", ct)
		if !strings.Contains(out, "a message for the token") {
			t.Errorf("pkcs11-tool --decrypt (PKCS#1) = %q, want the message", out)
		}
	})
	t.Run("keypairgen", func(t *testing.T) {
		// pkcs11-tool 0.23 cannot read a P-384 public key back ("cannot
		// create EVP_PKEY", softhsm2's too), so that one is checked through
		// the client and -O instead.
		for _, tc := range []struct{ label, keyType, openssl string }{
			{"gen-ec", "EC:prime256v1", "ASN1 OID: prime256v1"},
			{"gen-ec384", "EC:secp384r1", ""},
			{"gen-rsa", "rsa:2048", "Public-Key: (2048 bit)"},
		} {
			out := s.p11(t, "--keypairgen", "--key-type", tc.keyType, "--label", tc.label)
			id := regexp.MustCompile(`ID:\s+([0-9a-f]+)`).FindStringSubmatch(out)
			if id == nil {
				t.Fatalf("pkcs11-tool --keypairgen %s = %q, want an ID", tc.keyType, out)
			}
			der := filepath.Join(s.Dir, tc.label+".der")
			if tc.openssl == "" {
				if !strings.Contains(out, "EC_POINT 384 bits") {
					t.Errorf("pkcs11-tool --keypairgen %s = %q, want EC_POINT 384 bits", tc.keyType, out)
				}
				continue
			}
			s.p11(t, "--read-object", "--type", "pubkey", "--id", id[1], "-o", der)
			if got := s.openssl(t, "pkey", "-pubin", "-inform", "DER", "-in", der, "-noout", "-text"); !strings.Contains(got, tc.openssl) {
				t.Errorf("openssl pkey of %s's public key = %q, want %q", tc.label, got, tc.openssl)
			}
			k, err := c.Key(ctx, tc.label)
			if err != nil || hex.EncodeToString(k.ID) != id[1] {
				t.Errorf("Key(%s) = %v, %v; want the key pkcs11-tool made (ID %s)", tc.label, k, err, id[1])
			}
		}
	})
	t.Run("derive-needs-newer-client", func(t *testing.T) {
		// p11-kit 0.24.1's client has no serializer for CKM_ECDH1_DERIVE's
		// parameters and refuses it itself (docs/PKCS11.md §2); the token's
		// derivation is tested through the RPC in TestDeriveOverRPC.
		r := s.run(t, nil, nil, "pkcs11-tool", "--module", clientModule, "--derive", "-m", "ECDH1-DERIVE", "--id", ecID, "-i", ecPub)
		if r.code == 0 {
			t.Logf("pkcs11-tool --derive now passes through this p11-kit: %s", r.stdout)
		}
	})
	t.Run("pin-key", func(t *testing.T) {
		k, err := c.GenerateKey(ctx, "pinned", client.AlgECP256, client.WithPIN([]byte("1234")))
		if err != nil {
			t.Fatal(err)
		}
		id, pub := hex.EncodeToString(k.ID), s.file(t, "pinned.pub", pubPEM(t, k.PublicKey))
		if out := s.p11(t, "-O", "--type", "privkey", "--id", id); !strings.Contains(out, "always authenticate") {
			t.Errorf("pkcs11-tool -O of a PIN key = %q, want always authenticate", out)
		}
		// pkcs11-tool logs in (CKU_USER) and, seeing CKA_ALWAYS_AUTHENTICATE,
		// gives the PIN again as CKU_CONTEXT_SPECIFIC.
		sig := filepath.Join(s.Dir, "pinned.sig")
		s.p11(t, "--sign", "-m", "ECDSA", "--id", id, "-i", digest, "-o", sig, "--signature-format", "openssl", "--login", "--pin", "1234")
		s.openssl(t, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-in", digest, "-sigfile", sig)
		r := s.run(t, nil, nil, "pkcs11-tool", "--module", clientModule, "--sign", "-m", "ECDSA", "--id", id, "-i", digest,
			"-o", filepath.Join(s.Dir, "bad.sig"), "--login", "--pin", "9999")
		if r.code == 0 || !strings.Contains(r.stderr, "CKR_PIN_INCORRECT") {
			t.Errorf("pkcs11-tool --sign with a wrong PIN = exit %d %q, want CKR_PIN_INCORRECT", r.code, r.stderr)
		}
	})
	t.Run("random", func(t *testing.T) {
		out := filepath.Join(s.Dir, "rand.bin")
		s.p11(t, "--generate-random", "2000", "-o", out)
		if b, err := os.ReadFile(out); err != nil || len(b) != 2000 {
			t.Errorf("pkcs11-tool --generate-random 2000 wrote %d bytes (%v), want 2000", len(b), err)
		}
	})
	t.Run("destroy", func(t *testing.T) {
		if _, err := c.GenerateKey(ctx, "doomed", client.AlgECP256); err != nil {
			t.Fatal(err)
		}
		s.p11(t, "--delete-object", "--type", "privkey", "--label", "doomed")
		if _, err := c.Key(ctx, "doomed"); err == nil {
			t.Errorf("Key(doomed) after pkcs11-tool --delete-object = found, want gone")
		}
	})
	t.Run("other-uid-sees-nothing", func(t *testing.T) {
		r := s.run(t, &syscall.Credential{Uid: nobody, Gid: nobody}, nil, "pkcs11-tool", "--module", clientModule, "-O")
		if r.code != 0 || strings.Contains(r.stdout, "Object;") || !strings.Contains(r.stderr+r.stdout, "Using slot") {
			t.Errorf("pkcs11-tool -O as nobody = exit %d %q %q, want the token with no objects", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("self-test-refuses-sha1-by-default", func(t *testing.T) {
		// pkcs11-tool --test signs a SHA-1 DigestInfo with CKM_RSA_PKCS;
		// without pkcs11_allow_sha1 the core refuses it, which the token
		// answers CKR_DATA_INVALID (docs/PKCS11.md §4).
		r := s.run(t, nil, nil, "pkcs11-tool", "--module", clientModule, "--test")
		if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "CKR_DATA_INVALID") {
			t.Errorf("pkcs11-tool --test (default config) = exit %d\n%s%s\nwant a failure with CKR_DATA_INVALID", r.code, r.stdout, r.stderr)
		}
		// The audit record is written after the answer: wait for it.
		if log, ok := s.Daemon.WaitLog(5*time.Second, func(line string) bool {
			return strings.Contains(line, "op=Sign") && strings.Contains(line, "status=UNSUPPORTED_ALGORITHM")
		}); !ok {
			t.Errorf("daemon log after the refused SHA-1 sign = no Sign with status=UNSUPPORTED_ALGORITHM\n%s", log)
		}
	})
	t.Run("self-test-ec-only", func(t *testing.T) {
		// With EC keys only, --test passes with the default config:
		// uid 65534's namespace, after the cross-uid check above.
		cred := &syscall.Credential{Uid: nobody, Gid: nobody}
		if r := s.run(t, cred, []string{"TPMKEY_TRUST_SERVER_UID=0"}, s.tpmkey, "keygen", "nobody-ec", "--alg", "ec-p256"); r.code != 0 {
			t.Fatalf("tpmkey keygen as nobody = exit %d %s", r.code, r.stderr)
		}
		r := s.run(t, cred, nil, "pkcs11-tool", "--module", clientModule, "--test")
		if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "No errors") {
			t.Errorf("pkcs11-tool --test = exit %d\n%s%s\nwant No errors", r.code, r.stdout, r.stderr)
		}
	})
}

// TestPKCS11ToolSelfTestSHA1: with pkcs11_allow_sha1, pkcs11-tool --test
// passes its whole self-test on a token holding RSA and EC keys: the
// multi-part and one-part CKM_RSA_PKCS signatures over its SHA-1
// DigestInfo agree, openssl (inside pkcs11-tool) verifies RSA-PKCS and
// SHA256-RSA-PKCS, and PKCS #1 v1.5 and OAEP decryption round-trip.
func TestPKCS11ToolSelfTestSHA1(t *testing.T) {
	requireTools(t)
	cfg := filepath.Join(t.TempDir(), "tpmkeyd.toml")
	if err := os.WriteFile(cfg, []byte("pkcs11_allow_sha1 = true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, "--config", cfg)
	ctx := context.Background()
	c := s.dial(t)
	if _, err := c.GenerateKey(ctx, "rsa", client.AlgRSA2048, client.WithPurposes(client.PurposeSign, client.PurposeDecrypt)); err != nil {
		t.Fatalf("GenerateKey(rsa) = %v", err)
	}
	if _, err := c.GenerateKey(ctx, "web", client.AlgECP256); err != nil {
		t.Fatalf("GenerateKey(web) = %v", err)
	}
	r := s.run(t, nil, nil, "pkcs11-tool", "--module", clientModule, "--test")
	out := r.stdout + r.stderr
	if r.code != 0 || !strings.Contains(out, "No errors") {
		t.Fatalf("pkcs11-tool --test = exit %d\n%s\nwant No errors\ndaemon log:\n%s", r.code, out, s.Daemon.Log())
	}
	for _, want := range []string{"all 4 signature functions seem to work", "RSA-PKCS: OK", "SHA256-RSA-PKCS: OK", "(web) with 1 mechanism -- non-RSA, skipping",
		"Verify (currently only for RSA)"} {
		if !strings.Contains(out, want) {
			t.Errorf("pkcs11-tool --test output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "OK\n"); n < 5 {
		t.Errorf("pkcs11-tool --test OK lines = %d, want >= 5 (2 signatures, 1 verification, 2 decryptions):\n%s", n, out)
	}
}
