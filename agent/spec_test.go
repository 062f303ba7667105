package agent

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Tests of what docs/PROTOCOL.md promises a client written from it alone
// (issue 9 §8), against the real daemon.

// rawRequest is a request frame with a hand-made body.
func rawRequest(op protocol.Op, id uint32, bodyHex string) []byte {
	body, err := hex.DecodeString(bodyHex)
	if err != nil {
		panic(err)
	}
	payload := append(header(1, 0, uint16(op), id), body...)
	return frame(uint32(len(payload)), payload)
}

// callRaw sends a hand-made frame and decodes the answer, which must echo
// id.
func (c *rawClient) callRaw(frame []byte, id uint32, resp any) (protocol.Status, string) {
	c.t.Helper()
	c.sendRaw(frame)
	h, body := c.mustRecv()
	if h.ID != id {
		c.t.Fatalf("response id = %d, want %d", h.ID, id)
	}
	return decodeAnswer(c.t, h, body, resp)
}

// TestBodyMapKeys: unknown text keys and keys of any other type are
// ignored with their values (§4.1); tags are refused even there.
func TestBodyMapKeys(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "web", Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v (%s)", st, msg)
	}
	const alias = "65616c696173" + "63776562" // "alias": "web"
	tests := []struct {
		name string
		body string
		want protocol.Status
	}{
		{"unknown-text-key", "a2" + "66636f6c6f7572" + "64626c7565" + alias, protocol.StatusOK},
		{"integer-key", "a2" + "01" + "02" + alias, protocol.StatusOK},
		{"byte-string-key", "a2" + "43616263" + "01" + alias, protocol.StatusOK},
		{"array-key", "a2" + "820102" + "a0" + alias, protocol.StatusOK},
		{"bool-key", "a2" + "f5" + "01" + alias, protocol.StatusOK},
		{"null-key", "a2" + "f6" + "01" + alias, protocol.StatusOK},
		{"tag-key", "a2" + "c101" + "01" + alias, protocol.StatusBadRequest},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := uint32(100 + i)
			var resp protocol.GetKeyResponse
			st, msg := c.callRaw(rawRequest(protocol.OpGetKey, id, tc.body), id, &resp)
			if st != tc.want {
				t.Fatalf("GetKey(%s) = %v (%s), want %v", tc.body, st, msg, tc.want)
			}
			if st == protocol.StatusOK && resp.Key.Alias != "web" {
				t.Errorf("GetKey(%s) = key %q, want web", tc.body, resp.Key.Alias)
			}
		})
	}
}

// TestServerInitiatedFrames: the frames the server sends unasked carry
// opcode 0 and id 0, and the connection closes after them (§2, §5.3).
func TestServerInitiatedFrames(t *testing.T) {
	td := startDaemon(t, "[limits]\nmax_connections_per_uid = 1\nmax_frame_size = 4096\n")
	held := dialHello(t, td.socket)
	tests := []struct {
		name   string
		hello  bool
		send   []byte
		status protocol.Status
	}{
		// Over the connection limit: BUSY before the client says anything
		// (it has sent a Hello, which is never answered).
		{name: "over-connection-limit", send: rawRequest(protocol.OpHello, 1, "a16876657273696f6e738101"), status: protocol.StatusBusy},
		{name: "zero-length", hello: true, send: frame(0, nil), status: protocol.StatusBadRequest},
		{name: "shorter-than-header", hello: true, send: frame(3, []byte{1, 0, 0}), status: protocol.StatusBadRequest},
		{name: "over-frame-limit", hello: true, send: frame(4097, nil), status: protocol.StatusFrameTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c *rawClient
			if tc.hello {
				held.nc.Close() // frees the one connection slot; the daemon closed the others
				waitConns(t, td, 0)
				c = dialHello(t, td.socket)
			} else {
				c = dialRaw(t, td.socket)
			}
			c.sendRaw(tc.send)
			h, body := c.mustRecv()
			var eb protocol.ErrorBody
			if err := protocol.DecodeBody(body, &eb); err != nil || eb.Message == "" {
				t.Errorf("body of the unasked frame = %x (%v), want an error body with a message", body, err)
			}
			if h.Op != 0 || h.ID != 0 || h.Status != tc.status {
				t.Fatalf("unasked frame = opcode %d, id %d, %v; want opcode 0, id 0, %v", h.Op, h.ID, h.Status, tc.status)
			}
			c.expectClosed()
		})
	}
}

// waitConns waits until the daemon counts n open connections.
func waitConns(t *testing.T, td *testDaemon, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for td.core().conns.count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("connections = %d after 10s, want %d", td.core().conns.count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHeaderChecksBeforeHelloFirst: the header checks (version, flags,
// opcode, id 0) answer first, then "Hello first" (§3.3, §5.1); a request
// with id 0 is refused, echoing its opcode, and the connection stays (§5.2).
func TestHeaderChecksBeforeHelloFirst(t *testing.T) {
	td := startDaemon(t, "")
	c := dialRaw(t, td.socket)
	tests := []struct {
		name   string
		frame  []byte
		id     uint32
		op     uint16
		status protocol.Status
	}{
		{"unknown-opcode", frame(9, append(header(1, 0, 999, 5), 0xa0)), 5, 999, protocol.StatusUnknownOp},
		{"reserved-opcode", frame(9, append(header(1, 0, 36, 6), 0xa0)), 6, 36, protocol.StatusUnknownOp},
		{"opcode-zero", frame(9, append(header(1, 0, 0, 7), 0xa0)), 7, 0, protocol.StatusUnknownOp},
		{"bad-version", frame(9, append(header(2, 0, 999, 8), 0xa0)), 8, 999, protocol.StatusUnsupportedVersion},
		{"bad-flags", frame(9, append(header(1, 1, 999, 9), 0xa0)), 9, 999, protocol.StatusBadRequest},
		{"id-0", frame(9, append(header(1, 0, 14, 0), 0xa0)), 0, 14, protocol.StatusBadRequest},
		{"hello-with-id-0", rawRequest(protocol.OpHello, 0, "a16876657273696f6e738101"), 0, 1, protocol.StatusBadRequest},
		{"status-before-hello", frame(9, append(header(1, 0, 14, 10), 0xa0)), 10, 14, protocol.StatusBadRequest},
		{"hello", rawRequest(protocol.OpHello, 11, "a16876657273696f6e738101"), 11, 1, protocol.StatusOK},
		{"id-0-after-hello", frame(10, append(header(1, 0, 13, 0), 0xa1, 0x61)), 0, 13, protocol.StatusBadRequest},
		{"status-after-hello", frame(9, append(header(1, 0, 14, 12), 0xa0)), 12, 14, protocol.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.sendRaw(tc.frame)
			h, body := c.mustRecv()
			if h.ID != tc.id || uint16(h.Op) != tc.op || h.Status != tc.status {
				t.Fatalf("answer = opcode %d, id %d, %v (%x); want opcode %d, id %d, %v", h.Op, h.ID, h.Status, body, tc.op, tc.id, tc.status)
			}
		})
	}
}
