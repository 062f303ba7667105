//go:build linux

package agent

import (
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// The bytes one hot TPM2_HMAC of 32 bytes and its answer put on the bus
// (tpm/rawcmd_hmac.go, tpm/rawcmd_session.go), with swtpm's TCP framing
// (9 bytes before a command, 8 around a response): with the empty
// password, command 63 + response 53; through the salted session with a
// PIN, 111 + 101. Any other TPM command would add at least 37 bytes.
const (
	swtpmFraming      = 9 + 8
	hotMACBusBytes    = 63 + 53 + swtpmFraming
	hotPINMACBusBytes = 111 + 101 + swtpmFraming
)

// settledLen is tap.Len() once nothing has crossed for 20 ms: the tap
// records each direction in its own goroutine, after forwarding.
func settledLen(t *testing.T, tap *swtpmtest.Tap) int {
	t.Helper()
	n := tap.Len()
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		m := tap.Len()
		if m == n {
			return n
		}
		n = m
	}
	t.Fatalf("the TPM bus never went quiet: %d bytes and counting", n)
	return 0
}

// TestMACOneTPMCommandOnceLoaded: once an hmac-sha256 key is loaded, each
// MAC and each VerifyMAC (one key version) is exactly one TPM2_HMAC on the
// bus, nothing else, for a key without PIN and for a PIN key (whose PIN
// rides on the kept salted session, with no StartAuthSession per MAC).
func TestMACOneTPMCommandOnceLoaded(t *testing.T) {
	td, tap := startTappedDaemon(t)
	c := dialHello(t, td.socket)
	data := []byte("thirty-two bytes of data to MAC!")
	for _, tc := range []struct {
		name  string
		pin   []byte
		bytes int
	}{{"no-pin", nil, hotMACBusBytes}, {"pin", []byte("1234"), hotPINMACBusBytes}} {
		t.Run(tc.name, func(t *testing.T) {
			alias := "m-" + tc.name
			if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: alias, Algorithm: protocol.AlgHMACSHA256, PIN: tc.pin}, nil); st != protocol.StatusOK {
				t.Fatalf("GenerateKey(%s) = %v (%s)", alias, st, msg)
			}
			var warm protocol.MACResponse // loads the key
			if st, msg := c.call(protocol.OpMAC, &protocol.MACRequest{Alias: alias, Data: data, PIN: tc.pin}, &warm); st != protocol.StatusOK {
				t.Fatalf("MAC(%s) = %v (%s)", alias, st, msg)
			}
			const n = 20
			before := settledLen(t, tap)
			for i := range n {
				var r protocol.MACResponse
				if st, msg := c.call(protocol.OpMAC, &protocol.MACRequest{Alias: alias, Data: data, PIN: tc.pin}, &r); st != protocol.StatusOK || string(r.Tag) != string(warm.Tag) {
					t.Fatalf("MAC %d = %v (%s), tag %x, want OK and %x", i, st, msg, r.Tag, warm.Tag)
				}
			}
			if got := settledLen(t, tap) - before; got != n*tc.bytes {
				t.Errorf("bus bytes over %d hot MACs = %d, want %d (one TPM2_HMAC each)", n, got, n*tc.bytes)
			}
			before = settledLen(t, tap)
			for i := range n {
				var r protocol.VerifyMACResponse
				req := &protocol.VerifyMACRequest{Alias: alias, Data: data, Tag: warm.Tag, PIN: tc.pin}
				if st, msg := c.call(protocol.OpVerifyMAC, req, &r); st != protocol.StatusOK || !r.Valid {
					t.Fatalf("VerifyMAC %d = %v (%s), valid %v, want OK and true", i, st, msg, r.Valid)
				}
			}
			if got := settledLen(t, tap) - before; got != n*tc.bytes {
				t.Errorf("bus bytes over %d hot VerifyMACs = %d, want %d (one TPM2_HMAC each)", n, got, n*tc.bytes)
			}
		})
	}
}
