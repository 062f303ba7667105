//go:build linux

package agent

import (
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// BenchmarkAEADEncrypt encrypts 1 KiB and 1 MiB with a cached
// aes-256-gcm key through the socket, 8 requests in flight on one
// connection (1 KiB) or one at a time (1 MiB): the daemon's side of
// tpmkey-bench's AEAD cases, for -cpuprofile and -memprofile.
func BenchmarkAEADEncrypt(b *testing.B) {
	for _, tt := range []struct {
		name        string
		size, depth int
	}{{"1kib-pipelined-8", 1 << 10, 8}, {"1mib-serial", 1 << 20, 1}} {
		b.Run(tt.name, func(b *testing.B) {
			td := startDaemonTB(b)
			c := dialHello(b, td.socket)
			c.send(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "aead", Algorithm: protocol.AlgAES256GCM})
			c.mustRecv()
			req := &protocol.AEADEncryptRequest{Alias: "aead", Plaintext: make([]byte, tt.size)}
			c.send(protocol.OpAEADEncrypt, req) // caches the working key
			c.mustRecv()
			b.SetBytes(int64(tt.size))
			b.ReportAllocs()
			b.ResetTimer()
			sent, got := 0, 0
			for got < b.N {
				for sent < b.N && sent-got < tt.depth {
					c.send(protocol.OpAEADEncrypt, req)
					sent++
				}
				if h, _ := c.mustRecv(); h.Status != protocol.StatusOK {
					b.Fatalf("AEADEncrypt = %v", h.Status)
				}
				got++
			}
		})
	}
}
