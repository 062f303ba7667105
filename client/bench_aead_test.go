package client

import (
	"context"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// BenchmarkPipelinedAEADEncrypt measures the client's own cost of a 1 KiB
// AEADEncrypt: 8 goroutines share one Client and a fake server that
// answers at once with a ciphertext of the real size.
func BenchmarkPipelinedAEADEncrypt(b *testing.B) {
	ct := make([]byte, 1024+protocol.AEADOverhead)
	s := startFake(b, func(fc *fakeConn, req fakeRequest) {
		fc.reply(req.hdr, &protocol.AEADEncryptResponse{Ciphertext: ct, Version: 1})
	})
	c, err := Dial(context.Background(), s.path, WithTrustSameUser())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	pt := make([]byte, 1024)
	b.ReportAllocs()
	b.SetParallelism(4) // 8 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.AEADEncrypt(context.Background(), "k", pt, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
