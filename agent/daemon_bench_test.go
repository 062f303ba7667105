//go:build linux

package agent

import (
	"crypto/sha256"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// BenchmarkSign signs with one hot ECDSA P-256 key through the socket:
// serial (one request at a time) and pipelined (64 in flight on one
// connection). Compare with a raw go-tpm loop on swtpm (issue 6's bench).
func BenchmarkSign(b *testing.B) {
	for _, depth := range []int{1, 64} {
		b.Run(map[int]string{1: "serial", 64: "pipelined-64"}[depth], func(b *testing.B) {
			td := startDaemonTB(b)
			c := dialHello(b, td.socket)
			c.send(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "hot", Algorithm: protocol.AlgECP256})
			c.mustRecv()
			digest := sha256.Sum256([]byte("bench"))
			req := &protocol.SignRequest{Alias: "hot", Digest: digest[:], Hash: "sha256"}
			b.ResetTimer()
			sent, got := 0, 0
			for got < b.N {
				for sent < b.N && sent-got < depth {
					c.send(protocol.OpSign, req)
					sent++
				}
				if h, _ := c.mustRecv(); h.Status != protocol.StatusOK {
					b.Fatalf("Sign = %v", h.Status)
				}
				got++
			}
		})
	}
}
