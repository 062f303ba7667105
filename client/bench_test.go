package client

import (
	"context"
	"crypto"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// BenchmarkPipelinedCalls measures the client's own cost per call: many
// goroutines share one Client and a fake server that answers at once.
func BenchmarkPipelinedCalls(b *testing.B) {
	s := startFake(b, func(fc *fakeConn, req fakeRequest) {
		fc.reply(req.hdr, &protocol.SignResponse{Signature: make([]byte, 72)})
	})
	c, err := Dial(context.Background(), s.path, WithTrustSameUser())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	digest := make([]byte, 32)
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Sign(context.Background(), "k", crypto.SHA256, digest); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
