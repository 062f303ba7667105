package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestCancelWhileReading: a lone call reads the connection itself; its
// cancellation ends the wait between frames, leaves the stream intact, and
// its late answer goes to no one.
func TestCancelWhileReading(t *testing.T) {
	release := make(chan struct{})
	s := startFake(t, func(fc *fakeConn, req fakeRequest) {
		var r protocol.GetRandomRequest
		protocol.DecodeBody(req.body, &r)
		if r.N == 1 {
			go func() { <-release; randomReply(fc, req) }()
			return
		}
		randomReply(fc, req)
	})
	c := dialFake(t, s)
	for _, tc := range []struct {
		name    string
		timeout time.Duration
	}{
		{"first", 20 * time.Millisecond},
		{"again", 1 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			if _, err := c.Random(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Random(1) with a silent server = %v, want context.DeadlineExceeded", err)
			}
			for i := 2; i < 6; i++ {
				b, err := c.Random(context.Background(), i)
				if err != nil || len(b) != i || b[0] != byte(i) {
					t.Fatalf("Random(%d) after a cancel = %x, %v, want %d bytes of %d", i, b, err, i, i)
				}
			}
		})
	}
	close(release) // both late answers must be dropped, not misdelivered
	for i := 6; i < 10; i++ {
		b, err := c.Random(context.Background(), i)
		if err != nil || len(b) != i || b[0] != byte(i) {
			t.Fatalf("Random(%d) after late answers = %x, %v, want %d bytes of %d", i, b, err, i, i)
		}
	}
}
