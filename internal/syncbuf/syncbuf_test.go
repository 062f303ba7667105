package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/syncbuf"
)

// TestConcurrentWritesAndReads is meant for -race: writers and a reader at
// once, and every write is kept whole.
func TestConcurrentWritesAndReads(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "g%d-%d\n", g, i)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			_ = b.String()
			_ = b.Len()
		}
	})
	wg.Wait()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 800 {
		t.Errorf("len(lines) = %d, want 800", len(lines))
	}
	if got := b.Bytes(); len(got) != b.Len() {
		t.Errorf("len(Bytes()) = %d, want Len() = %d", len(got), b.Len())
	}
}
