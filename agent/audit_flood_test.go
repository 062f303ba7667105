//go:build linux

package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestAuditCannotBeFloodedOrForged holds the reproductions of the audit
// trail's defects: a huge invalid alias, a forged line with an ANSI
// escape, a flood of bad frames, and a flood of refused connections.
// The core's bounds: a logged caller string is at most 128 bytes plus a
// "...+N" marker; an owner's refusals are logged in bursts of 50.
const (
	maxLoggedLen    = 128
	refusalLogBurst = 50
)

func TestAuditCannotBeFloodedOrForged(t *testing.T) {
	td := startDaemon(t, "[limits]\nrequests_per_second = 100\nburst = 200\n")
	c := dialHello(t, td.socket)
	forged := "x\x1b[31m\nGetKey uid=0 alias=db-password status=OK"
	c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: strings.Repeat("A", 900_000)}, nil)
	c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: forged}, nil)

	// A flood of frames with a bad header on one connection: charged to
	// the bucket, then the connection is closed.
	flood := dialHello(t, td.socket)
	bad := frame(9, append(header(1, 0, 999, 7), 0xa0))
	sent := 0
	for ; sent < 5000; sent++ {
		flood.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if _, err := flood.nc.Write(bad); err != nil {
			break
		}
	}
	flood.expectClosed()
	td.stop()

	lines := td.audit.auditLines(t)
	for _, l := range lines {
		alias, _ := l["alias"].(string)
		if len(alias) > maxLoggedLen+16 {
			t.Errorf("audit alias of %d bytes, want at most %d", len(alias), maxLoggedLen+16)
		}
		if strings.ContainsAny(alias, "\x1b\n") {
			t.Errorf("audit alias %q holds a control character", alias)
		}
	}
	if len(lines) > refusalLogBurst+20 {
		t.Errorf("audit records after %d bad frames = %d, want about the refusal burst (%d)", sent, len(lines), refusalLogBurst)
	}
	if strings.Contains(td.logs.String(), "\x1b") {
		t.Errorf("daemon log holds an ANSI escape")
	}
}

// TestRefusedConnectionsLogBounded: a uid refused by allow_users cannot
// fill the log (reproduced: 3,000 warning lines in 0.05 s).
func TestRefusedConnectionsLogBounded(t *testing.T) {
	td := startDaemon(t, "allow_users = [\"4242\"]\n")
	// Root may always connect; refuse by connecting as a uid that is not
	// allowed: only possible in-process through the core.
	c := td.core()
	for range 3000 {
		if _, err := c.Connect(core.Caller{UID: 5000, GID: 5000, Owner: 5000}); err == nil {
			t.Fatal("Connect(uid 5000) = nil error, want PERMISSION_DENIED")
		}
	}
	if n := strings.Count(td.logs.String(), "connection refused"); n > refusalLogBurst+5 || n == 0 {
		t.Errorf("log lines for 3000 refused connections = %d, want 1..%d", n, refusalLogBurst+5)
	}
}
