package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// TestAEADPlaintextNotLeftInDaemonMemory: after AEAD requests of small and
// large plaintexts (the large ones take the pooled-buffer paths: decoded
// in place from the request frame, opened straight into the response
// frame), the daemon's writable memory holds none of the plaintext: every
// pooled buffer that held one was cleared before reuse.
func TestAEADPlaintextNotLeftInDaemonMemory(t *testing.T) {
	swtpmtest.RequireRoot(t, "read another process's memory")
	s, _, _ := startStack(t)
	c := dial(t, s)
	ctx := context.Background()
	if _, err := c.GenerateKey(ctx, "aead", client.AlgAES256GCM); err != nil {
		t.Fatal(err)
	}
	marker := []byte("aead-plaintext-3f9a61c2-not-in-memory")
	for _, n := range []int{100, 4 << 10, 300 << 10, 900 << 10} {
		pt := bytes.Repeat(marker, n/len(marker)+1)[:n]
		for range 5 {
			ct, err := c.AEADEncrypt(ctx, "aead", pt, map[string]string{"n": "x"})
			if err != nil {
				t.Fatalf("AEADEncrypt(%d bytes) = %v", n, err)
			}
			back, err := c.AEADDecrypt(ctx, ct, map[string]string{"n": "x"})
			if err != nil || !bytes.Equal(back, pt) {
				t.Fatalf("AEADDecrypt(%d bytes) = %v, want the plaintext", n, err)
			}
		}
	}
	found, scanned := scanMemory(t, s.Daemon.PID(), marker)
	if scanned == 0 {
		t.Fatal("read no memory of the daemon")
	}
	if found > 0 {
		t.Errorf("the plaintext is in the daemon's memory %d times (%d bytes scanned)", found, scanned)
	}
	if n, _ := scanMemory(t, s.Daemon.PID(), []byte(s.Socket)); n == 0 {
		t.Errorf("control: the socket path was not found in the daemon's memory; the scan sees nothing")
	}
}
