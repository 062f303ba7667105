//go:build simulator

package main

import (
	"bufio"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// startDev runs `tpmkeyd --dev` in the current directory until the test
// ends, and returns the socket path it printed.
func startDev(t *testing.T) (socket string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--dev", "--log-level", "warn"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "TPMKEY_SOCKET="); ok {
			socket = v
			break
		}
	}
	if socket == "" {
		cancel()
		t.Fatalf("tpmkeyd --dev printed no TPMKEY_SOCKET line (run: %v)", <-done)
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tpmkeyd --dev exited with %v, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("tpmkeyd --dev did not stop within 30 s")
		}
	}
	t.Cleanup(stop)
	return socket, stop
}

func signWith(t *testing.T, socket, alias string, create bool) {
	t.Helper()
	ctx := context.Background()
	c, err := client.Dial(ctx, socket, client.WithTrustSameUser())
	if err != nil {
		t.Fatalf("client.Dial(%q) = %v", socket, err)
	}
	defer c.Close()
	if create {
		if _, err := c.GenerateKey(ctx, alias, client.AlgECP256); err != nil {
			t.Fatalf("GenerateKey = %v", err)
		}
	}
	k, err := c.Key(ctx, alias)
	if err != nil {
		t.Fatalf("Key(%q) = %v", alias, err)
	}
	d := sha256.Sum256([]byte("dev mode"))
	sig, err := c.Sign(ctx, alias, crypto.SHA256, d[:])
	if err != nil {
		t.Fatalf("Sign = %v", err)
	}
	if !ecdsa.VerifyASN1(k.PublicKey.(*ecdsa.PublicKey), d[:], sig) {
		t.Errorf("signature from --dev does not verify")
	}
}

// TestDevMode is the README quickstart: --dev runs on the embedded
// simulator, and its keys survive a restart (the seed is kept in
// ./.tpmkeyd-dev).
func TestDevMode(t *testing.T) {
	t.Chdir(t.TempDir())
	socket, stop := startDev(t)
	if !strings.HasSuffix(socket, "/.tpmkeyd-dev/tpmkeyd.sock") {
		t.Errorf("TPMKEY_SOCKET = %q, want it under ./.tpmkeyd-dev/", socket)
	}
	signWith(t, socket, "devkey", true)
	stop()

	socket, _ = startDev(t)
	signWith(t, socket, "devkey", false)
}
