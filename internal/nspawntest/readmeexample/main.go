// Command readmeexample is the README's "Using it from Go" example as a
// program: Dial with no path and no options, make a key, sign through
// crypto.Signer and verify. The boot test (internal/nspawntest) builds it on
// the host and runs it inside the container against the packaged daemon.
//
// Usage: readmeexample ALIAS. It prints the server's listen-time uid and
// pid, then "signed and verified", and deletes the key.
package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: readmeexample ALIAS")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := run(ctx, os.Args[1])
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "readmeexample: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, alias string) error {
	c, err := client.Dial(ctx, "") // $TPMKEY_SOCKET, else /run/tpmkeyd/tpmkeyd.sock
	if err != nil {
		return err
	}
	defer c.Close()
	info := c.ServerInfo()
	fmt.Printf("server uid=%d pid=%d agent=%s\n", info.UID, info.PID, info.AgentVersion)
	key, err := c.GenerateKey(ctx, alias, client.AlgECP256)
	if err != nil {
		return err
	}
	defer c.DeleteKey(context.WithoutCancel(ctx), alias)
	signer, err := c.Signer(ctx, alias) // a crypto.Signer: TLS, x509, JWS...
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte("hello from " + alias))
	sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(key.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
		return errors.New("the signature does not verify")
	}
	if sig, err = c.Sign(ctx, alias, crypto.SHA256, digest[:]); err != nil {
		return err
	}
	if ok, err := c.Verify(ctx, alias, crypto.SHA256, digest[:], sig); err != nil || !ok {
		return fmt.Errorf("Verify = %v, %v, want true", ok, err)
	}
	fmt.Println("signed and verified")
	return nil
}
