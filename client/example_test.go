package client_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log"
	"math/big"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// Creating a key: the private key is made in the TPM and never leaves it.
func ExampleClient_GenerateKey() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "") // $TPMKEY_SOCKET, else /run/tpmkeyd/tpmkeyd.sock
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	k, err := c.GenerateKey(ctx, "example-key", client.AlgECP256,
		client.WithPurposes(client.PurposeSign))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("created %s: %s %v, %d-byte key id\n", k.Alias, k.Algorithm, k.Purposes, len(k.ID))

	digest := sha256.Sum256([]byte("hello"))
	sig, err := c.Sign(ctx, "example-key", crypto.SHA256, digest[:])
	if err != nil {
		log.Fatal(err)
	}
	ok, err := c.Verify(ctx, "example-key", crypto.SHA256, digest[:], sig)
	fmt.Println("signature verifies:", ok, err)

	if err := c.DeleteKey(ctx, "example-key"); err != nil {
		log.Fatal(err)
	}
	// Output:
	// created example-key: ec-p256 [sign], 16-byte key id
	// signature verifies: true <nil>
}

// A TLS server whose private key is a TPM key: the certificate is
// self-signed through the crypto.Signer, and a client that trusts only that
// certificate completes a real crypto/tls handshake with it.
func ExampleClient_Signer_tlsServer() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GenerateKey(ctx, "example-tls", client.AlgECP256); err != nil {
		log.Fatal(err)
	}
	defer c.DeleteKey(ctx, "example-tls")
	signer, err := c.Signer(ctx, "example-tls")
	if err != nil {
		log.Fatal(err)
	}

	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		log.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	roots := x509.NewCertPool()
	roots.AddCert(cert)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: signer}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.(*tls.Conn).HandshakeContext(ctx) // signs with the TPM key
	}()

	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	st := conn.ConnectionState()
	fmt.Println("handshake:", tls.VersionName(st.Version), "with", st.PeerCertificates[0].Subject.CommonName)
	// Output:
	// handshake: TLS 1.3 with localhost
}

// A certificate signing request signed through the crypto.Signer, ready to
// send to a CA.
func ExampleClient_Signer_certificateRequest() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GenerateKey(ctx, "example-csr", client.AlgECP384); err != nil {
		log.Fatal(err)
	}
	defer c.DeleteKey(ctx, "example-csr")
	signer, err := c.Signer(ctx, "example-csr")
	if err != nil {
		log.Fatal(err)
	}

	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "build-42.example.com", Organization: []string{"Example"}},
		DNSNames: []string{"build-42.example.com"},
	}, signer)
	if err != nil {
		log.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("subject:", csr.Subject)
	fmt.Println("signature:", csr.SignatureAlgorithm, "valid:", csr.CheckSignature() == nil)
	// Output:
	// subject: CN=build-42.example.com,O=Example
	// signature: ECDSA-SHA384 valid: true
}
