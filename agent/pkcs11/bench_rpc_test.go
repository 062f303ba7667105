package pkcs11_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// BenchmarkRPC measures the token's round trips from a bare RPC client on
// one connection, with the daemon and swtpm as the tests run them:
// an answer from the connection's own state (C_GetSessionInfo), and one
// signature as miekg/pkcs11 makes it (C_SignInit, C_Sign asking the size,
// C_Sign), CKM_ECDSA with a P-256 key, with no rate limit. Run it with -benchtime and compare
// builds; it reports µs per round trip and the daemon's CPU time (user
// and system, from /proc, in clock ticks of 10 ms) per round trip.
func BenchmarkRPC(b *testing.B) {
	cfg := filepath.Join(b.TempDir(), "tpmkeyd.toml")
	if err := os.WriteFile(cfg, []byte("[limits]\nrequests_per_second = 0\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	s := startStack(b, "--config", cfg)
	c, err := client.Dial(context.Background(), s.Socket, client.WithTrustSameUser())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.GenerateKey(context.Background(), "hot", client.AlgECP256); err != nil {
		b.Fatal(err)
	}
	rc := dialRPC(b, s.p11sock)
	rc.nc.SetDeadline(time.Time{})
	rc.initialize()
	sess := rc.openSession()
	key := rc.findOne(sess, "hot", 3) // CKO_PRIVATE_KEY
	digest := make([]byte, 32)
	info := newMsg(13, "u").u64(sess).b                                        // C_GetSessionInfo
	init := newMsg(42, "uMu").u64(sess).u32(0x1041).u32(0xffffffff).u64(key).b // C_SignInit, CKM_ECDSA, no parameters
	size := newMsg(43, "uayfy").u64(sess).byte(1).bytes(digest).u32(0).b       // C_Sign, no buffer
	sign := newMsg(43, "uayfy").u64(sess).byte(1).bytes(digest).u32(64).b
	pid := s.Daemon.PID()
	b.Run("inline-round-trip", func(b *testing.B) {
		cpu0 := daemonCPU(b, pid)
		for b.Loop() {
			if rv, _ := rc.call(info); rv != 0 {
				b.Fatalf("C_GetSessionInfo = %#x", rv)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/rpc")
		b.ReportMetric(float64((daemonCPU(b, pid)-cpu0).Microseconds())/float64(b.N), "daemon-cpu-µs/rpc")
	})
	b.Run("sign-3-rpcs", func(b *testing.B) {
		cpu0 := daemonCPU(b, pid)
		for b.Loop() {
			for _, m := range [][]byte{init, size, sign} {
				if rv, _ := rc.call(m); rv != 0 {
					b.Fatalf("call %d = %#x", m[3], rv)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N), "µs/sign")
		b.ReportMetric(float64((daemonCPU(b, pid)-cpu0).Microseconds())/float64(b.N), "daemon-cpu-µs/sign")
	})
}

// daemonCPU is the process's user and system CPU time so far.
func daemonCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	var ticks int64
	for _, v := range f[11:13] { // utime, stime (fields 14 and 15)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}
