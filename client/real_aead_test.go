package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestRealAEADSizesPipelined: AEAD round trips of every size class the
// fast paths treat differently (small frames copied, large ones split on
// write and left in their frame buffer on read), up to the largest
// plaintext the default frame takes, from goroutines sharing one Client.
// Every result must stay intact after later calls reuse the buffers.
func TestRealAEADSizesPipelined(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	if _, err := c.GenerateKey(ctx, "sizes", client.AlgAES256GCM); err != nil {
		t.Fatalf("GenerateKey = %v", err)
	}
	t.Cleanup(func() { c.DeleteKey(ctx, "sizes") })
	maxPT := protocol.DefaultMaxFrameSize - protocol.AEADOverhead - 256
	sizes := []int{0, 1, 1000, 4096, 64<<10 - 100, 64 << 10, 300 << 10, maxPT}
	type result struct {
		pt, ct, ctCopy, back []byte
	}
	results := make([][]result, 4)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range results {
		wg.Go(func() {
			for _, n := range sizes {
				pt := make([]byte, n)
				rand.Read(pt)
				encCtx := map[string]string{"g": fmt.Sprint(g), "n": fmt.Sprint(n)}
				ct, err := c.AEADEncrypt(ctx, "sizes", pt, encCtx)
				if err != nil {
					errs <- fmt.Errorf("AEADEncrypt(%d bytes) = %w", n, err)
					return
				}
				back, err := c.AEADDecrypt(ctx, ct, encCtx)
				if err != nil {
					errs <- fmt.Errorf("AEADDecrypt(%d bytes) = %w", n, err)
					return
				}
				results[g] = append(results[g], result{pt, ct, bytes.Clone(ct), back})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for g, rs := range results {
		for _, r := range rs {
			if !bytes.Equal(r.back, r.pt) {
				t.Errorf("goroutine %d: AEADDecrypt(AEADEncrypt(%d bytes)) = %d other bytes, want the plaintext", g, len(r.pt), len(r.back))
			}
			if !bytes.Equal(r.ct, r.ctCopy) {
				t.Errorf("goroutine %d: a %d-byte ciphertext changed after later calls, want it left alone", g, len(r.pt))
			}
			if len(r.ct) != len(r.pt)+protocol.AEADOverhead {
				t.Errorf("goroutine %d: AEADEncrypt(%d bytes) = %d bytes, want %d", g, len(r.pt), len(r.ct), len(r.pt)+protocol.AEADOverhead)
			}
			// A ciphertext kept from long ago still opens: no later call
			// reused its memory.
			encCtx := map[string]string{"g": fmt.Sprint(g), "n": fmt.Sprint(len(r.pt))}
			if again, err := c.AEADDecrypt(ctx, r.ct, encCtx); err != nil || !bytes.Equal(again, r.pt) {
				t.Errorf("goroutine %d: AEADDecrypt(kept %d-byte ciphertext) = %v, want the plaintext", g, len(r.pt), err)
			}
		}
	}
	if _, err := c.AEADEncrypt(ctx, "sizes", make([]byte, maxPT+1), nil); err == nil {
		t.Errorf("AEADEncrypt(%d bytes) = nil error, want ErrFrameTooLarge", maxPT+1)
	}
}
