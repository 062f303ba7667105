//go:build linux

package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

func TestConnectionsPerUID(t *testing.T) {
	td := startDaemon(t, "[limits]\nmax_connections_per_uid = 2\n")
	a := dialHello(t, td.socket)
	dialHello(t, td.socket)
	c := dialRaw(t, td.socket)
	h, _ := c.mustRecv()
	if h.Status != protocol.StatusBusy {
		t.Fatalf("third connection of one uid = %v, want BUSY", h.Status)
	}
	c.expectClosed()
	a.nc.Close()
	// The slot comes back once the daemon sees the close.
	deadline := time.Now().Add(10 * time.Second)
	for td.core().Connections() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("connections = %d 10s after a close, want 1", td.core().Connections())
		}
		time.Sleep(10 * time.Millisecond)
	}
	dialHello(t, td.socket)
}

func TestRateLimit(t *testing.T) {
	// 0.01/s: no token comes back during the test. Hello takes one.
	td := startDaemon(t, "[limits]\nrequests_per_second = 0.01\nburst = 4\n")
	c := dialHello(t, td.socket)
	for i, want := range []protocol.Status{protocol.StatusOK, protocol.StatusOK, protocol.StatusOK, protocol.StatusRateLimited} {
		if st, _ := c.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != want {
			t.Errorf("request %d = %v, want %v", i+1, st, want)
		}
	}
	// The bucket is per uid, not per connection; Hello is charged too.
	c2 := dialRaw(t, td.socket)
	if st, _ := c2.call(protocol.OpHello, &protocol.HelloRequest{Versions: []uint{1}}, nil); st != protocol.StatusRateLimited {
		t.Errorf("Hello on a second connection = %v, want RATE_LIMITED", st)
	}
}

func TestQuota(t *testing.T) {
	td := startDaemon(t, "[limits]\nmax_keys_per_uid = 1\n")
	c := dialHello(t, td.socket)
	runOpCases(t, c, []opCase{
		{name: "first-key", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "a", Algorithm: protocol.AlgECP256}},
		{name: "second-key", op: protocol.OpGenerateKey, want: protocol.StatusQuotaExceeded,
			req: &protocol.GenerateKeyRequest{Alias: "b", Algorithm: protocol.AlgECP256}},
		{name: "sealed-secret", op: protocol.OpSeal, want: protocol.StatusQuotaExceeded,
			req: &protocol.SealRequest{Alias: "s", Secret: []byte("x")}},
		{name: "delete", op: protocol.OpDeleteKey, want: protocol.StatusOK, req: &protocol.DeleteKeyRequest{Alias: "a"}},
		{name: "key-after-delete", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "b", Algorithm: protocol.AlgECP256}},
	})
}

// TestReload lowers the rate limit with a connection open: the next
// requests on that same connection obey it. A bad file keeps the old
// config, with one log line naming the field.
func TestReload(t *testing.T) {
	td := startDaemon(t, "[limits]\nmax_keys_per_uid = 10\n")
	c := dialHello(t, td.socket)
	if st, _ := c.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != protocol.StatusOK {
		t.Fatalf("Status before reload = %v, want OK", st)
	}
	writeFile(t, td.opts.ConfigPath, "[limits]\nrequests_per_second = 0.01\nburst = 1\n")
	if err := td.d.Reload(t.Context()); err != nil {
		t.Fatalf("Reload = %v, want nil", err)
	}
	for i, want := range []protocol.Status{protocol.StatusOK, protocol.StatusRateLimited} {
		if st, _ := c.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != want {
			t.Errorf("request %d after reload = %v, want %v", i+1, st, want)
		}
	}
	writeFile(t, td.opts.ConfigPath, "[limits]\nmax_connections = -1\n")
	if err := td.d.Reload(t.Context()); err == nil {
		t.Fatalf("Reload(invalid) = nil, want an error")
	}
	if got := td.core().Limits().Burst; got != 1 {
		t.Errorf("burst after a failed reload = %d, want 1 (kept)", got)
	}
	if logs := td.logs.String(); !strings.Contains(logs, "reload failed") || !strings.Contains(logs, "limits.max_connections") {
		t.Errorf("logs lack a reload failure naming limits.max_connections:\n%s", logs)
	}
}

// TestReloadOnFileChange needs no SIGHUP: the watcher sees the new file.
func TestReloadOnFileChange(t *testing.T) {
	td := startDaemon(t, "[limits]\nmax_keys_per_uid = 10\n")
	writeFile(t, td.opts.ConfigPath, "[limits]\nmax_keys_per_uid = 3\n")
	deadline := time.Now().Add(15 * time.Second)
	for td.core().Limits().MaxKeysPerUID != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("max_keys_per_uid still %d 15s after the file changed, want 3\nlogs:\n%s",
				td.core().Limits().MaxKeysPerUID, td.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
