package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// TestConcurrentClients: 50 clients, each on its own connection, make 200
// mixed calls each on 12 keys (far more than the TPM's 3 object slots).
// Every call succeeds, and after a graceful stop no transient object or
// session is left on the TPM.
func TestConcurrentClients(t *testing.T) {
	const (
		clients = 50
		ops     = 200
		nKeys   = 12
	)
	cfg := writeConfig(t, "[limits]\nrequests_per_second = 0.0\n")
	s, sw, _ := startStack(t, "--config", cfg, "--log-level", "warn")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	admin := dial(t, s)
	pubs := make([]*ecdsa.PublicKey, nKeys)
	for i := range nKeys {
		alg := client.AlgECP256
		if i%4 == 3 {
			alg = client.AlgECP384
		}
		k, err := admin.GenerateKey(ctx, fmt.Sprintf("k%02d", i), alg)
		if err != nil {
			t.Fatalf("GenerateKey(k%02d) = %v", i, err)
		}
		pubs[i] = k.PublicKey.(*ecdsa.PublicKey)
	}
	if _, err := admin.Seal(ctx, "sealed", []byte("shared secret")); err != nil {
		t.Fatalf("Seal = %v", err)
	}
	admin.Close()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := range clients {
		wg.Go(func() { errs <- loadWorker(ctx, s.Socket, w, ops, pubs) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d clients x %d ops in %v", clients, ops, time.Since(start).Round(time.Millisecond))
	if err := s.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	out := sw.Tool("tpm2_getcap", "handles-transient")
	if strings.TrimSpace(string(out)) != "" {
		t.Errorf("tpm2_getcap handles-transient after a graceful stop = %q, want none", out)
	}
	sw.AssertNoTransients()
}

// loadWorker makes ops calls on one connection: mostly signatures, checked
// locally, mixed with key look-ups, verifies, listings, unseals and random.
func loadWorker(ctx context.Context, socket string, w, ops int, pubs []*ecdsa.PublicKey) error {
	c, err := client.Dial(ctx, socket, client.WithTrustSameUser())
	if err != nil {
		return fmt.Errorf("worker %d: %w", w, err)
	}
	defer c.Close()
	for i := range ops {
		n := (w*ops + i) % len(pubs)
		alias := fmt.Sprintf("k%02d", n)
		if err := loadOp(ctx, c, i%10, alias, pubs[n]); err != nil {
			return fmt.Errorf("worker %d op %d on %s: %w", w, i, alias, err)
		}
	}
	return nil
}

func loadOp(ctx context.Context, c *client.Client, kind int, alias string, pub *ecdsa.PublicKey) error {
	d := sha256.Sum256([]byte(alias))
	switch kind {
	case 0, 1, 2, 3, 4:
		sig, err := c.Sign(ctx, alias, crypto.SHA256, d[:])
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(pub, d[:], sig) {
			return fmt.Errorf("signature does not verify")
		}
	case 5:
		k, err := c.Key(ctx, alias)
		if err != nil {
			return err
		}
		if !pub.Equal(k.PublicKey) {
			return fmt.Errorf("Key returned another public key")
		}
	case 6:
		sig, err := c.Sign(ctx, alias, crypto.SHA256, d[:])
		if err != nil {
			return err
		}
		if ok, err := c.Verify(ctx, alias, crypto.SHA256, d[:], sig); err != nil || !ok {
			return fmt.Errorf("Verify = %v, %v", ok, err)
		}
	case 7:
		if b, err := c.Random(ctx, 32); err != nil || len(b) != 32 {
			return fmt.Errorf("Random = %d bytes, %v", len(b), err)
		}
	case 8:
		if s, err := c.Unseal(ctx, "sealed"); err != nil || !bytes.Equal(s, []byte("shared secret")) {
			return fmt.Errorf("Unseal = %q, %v", s, err)
		}
	case 9:
		keys, _, err := c.KeysPage(ctx, "", 5)
		if err != nil || len(keys) == 0 {
			return fmt.Errorf("KeysPage = %d keys, %v", len(keys), err)
		}
	}
	return nil
}
