package agent

import (
	"encoding/hex"
	"testing"

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
