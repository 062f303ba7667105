package client_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

func dialReal(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), "")
	if err != nil {
		t.Fatalf("client.Dial = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRealSharedClientPipelines: 64 goroutines share one Client, as the
// bench does; every signature is correct.
func TestRealSharedClientPipelines(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	k, err := c.GenerateKey(ctx, "shared", client.AlgECP256)
	if err != nil {
		t.Fatalf("GenerateKey = %v", err)
	}
	t.Cleanup(func() { c.DeleteKey(ctx, "shared") })
	pub := k.PublicKey.(*ecdsa.PublicKey)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 64 {
		wg.Go(func() {
			for i := range 10 {
				d := sha256.Sum256([]byte{byte(g), byte(i)})
				sig, err := c.Sign(ctx, "shared", crypto.SHA256, d[:])
				if err != nil {
					errs <- err
					return
				}
				if !ecdsa.VerifyASN1(pub, d[:], sig) {
					errs <- errors.New("a signature does not verify")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRealRSASignerAndDecrypter uses one RSA key (slow to make on swtpm)
// for PKCS #1 v1.5 and PSS signatures through crypto.Signer, a TLS 1.3
// handshake (which needs PSS), and OAEP and PKCS #1 v1.5 decryption through
// crypto.Decrypter.
func TestRealRSASignerAndDecrypter(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	if _, err := c.GenerateKey(ctx, "rsa", client.AlgRSA2048,
		client.WithPurposes(client.PurposeSign, client.PurposeDecrypt)); err != nil {
		t.Fatalf("GenerateKey = %v", err)
	}
	t.Cleanup(func() { c.DeleteKey(ctx, "rsa") })
	s, err := c.Signer(ctx, "rsa")
	if err != nil {
		t.Fatal(err)
	}
	pub := s.Public().(*rsa.PublicKey)
	d256 := sha256.Sum256([]byte("m"))
	d384 := sha512.Sum384([]byte("m"))

	t.Run("pkcs1v15", func(t *testing.T) {
		sig, err := s.Sign(rand.Reader, d256[:], crypto.SHA256)
		if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA256, d256[:], sig) != nil {
			t.Errorf("Sign(PKCS1v15) = %x, %v; does not verify", sig, err)
		}
	})
	salts := []struct {
		name string
		salt int
	}{{"pss-equals-hash", rsa.PSSSaltLengthEqualsHash}, {"pss-auto", rsa.PSSSaltLengthAuto}, {"pss-48", 48}}
	for _, tc := range salts {
		salt := tc.salt
		t.Run(tc.name, func(t *testing.T) {
			sig, err := s.Sign(rand.Reader, d384[:], &rsa.PSSOptions{SaltLength: salt, Hash: crypto.SHA384})
			if err != nil {
				t.Fatalf("Sign(PSS salt %d) = %v", salt, err)
			}
			opts := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}
			if err := rsa.VerifyPSS(pub, crypto.SHA384, d384[:], sig, opts); err != nil {
				t.Errorf("Sign(PSS salt %d) does not verify with a hash-length salt: %v", salt, err)
			}
		})
	}
	t.Run("pss-other-salt-refused", func(t *testing.T) {
		_, err := s.Sign(rand.Reader, d256[:], &rsa.PSSOptions{SaltLength: 20, Hash: crypto.SHA256})
		if !errors.Is(err, client.ErrUnsupported) {
			t.Errorf("Sign(PSS salt 20) = %v, want ErrUnsupported", err)
		}
	})
	t.Run("tls13-handshake", func(t *testing.T) { tlsHandshake(t, s) })

	dec, err := c.Decrypter(ctx, "rsa")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("attack at dawn")
	oaep, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, msg, nil)
	pkcs, _ := rsa.EncryptPKCS1v15(rand.Reader, pub, msg)
	tests := []struct {
		name string
		ct   []byte
		opts crypto.DecrypterOpts
	}{
		{"oaep-sha256", oaep, &rsa.OAEPOptions{Hash: crypto.SHA256}},
		{"pkcs1v15-nil-opts", pkcs, nil},
		{"pkcs1v15-opts", pkcs, &rsa.PKCS1v15DecryptOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dec.Decrypt(rand.Reader, tt.ct, tt.opts)
			if err != nil || !bytes.Equal(got, msg) {
				t.Errorf("Decrypt(%s) = %q, %v, want %q", tt.name, got, err, msg)
			}
		})
	}
	if _, err := c.Decrypter(ctx, "shared-missing"); !errors.Is(err, client.ErrKeyNotFound) {
		t.Errorf("Decrypter(missing) = %v, want ErrKeyNotFound", err)
	}
}

// tlsHandshake runs a TLS 1.3 handshake in memory with s as the server key.
func tlsHandshake(t *testing.T, s crypto.Signer) {
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "rsa.test"},
		DNSNames: []string{"rsa.test"}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
	if err != nil {
		t.Fatalf("CreateCertificate = %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: s}},
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err == nil {
			conn.(*tls.Conn).Handshake()
			conn.Close()
		}
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "rsa.test"})
	if err != nil {
		t.Fatalf("TLS 1.3 handshake with an RSA TPM key = %v", err)
	}
	conn.Close()
}
