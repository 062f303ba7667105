//go:build linux

package agent

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

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
			if tc.hello {
				c.sendRaw(tc.send)
			} else if _, err := c.nc.Write(tc.send); err != nil && !errors.Is(err, syscall.EPIPE) {
				// The refusal is sent, and the socket closed, before
				// anything is read: the write may meet a closed peer
				// (EPIPE), and the BUSY frame is still there to read.
				t.Fatalf("Write: %v", err)
			}
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
	for td.core().Connections() != n {
		if time.Now().After(deadline) {
			t.Fatalf("connections = %d after 10s, want %d", td.core().Connections(), n)
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
		{"reserved-opcode", frame(9, append(header(1, 0, 37, 6), 0xa0)), 6, 37, protocol.StatusUnknownOp},
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

// callMap sends a body encoded from m as it is (empty values and undefined
// included, which the typed encoder would leave out).
func (c *rawClient) callMap(op protocol.Op, m map[string]any, resp any) (protocol.Status, string) {
	c.t.Helper()
	body, err := cbor.Marshal(m)
	if err != nil {
		c.t.Fatalf("cbor.Marshal: %v", err)
	}
	c.id++
	return c.callRaw(rawRequest(op, c.id, hex.EncodeToString(body)), c.id, resp)
}

var undefined = cbor.RawMessage{0xf7}

// compressedSPKI is pub's SubjectPublicKeyInfo with its point compressed
// (RFC 5480 §2.2): x509's encoding, with the bit string replaced.
func compressedSPKI(t *testing.T, pub *ecdh.PublicKey) []byte {
	t.Helper()
	full, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(full, &k); err != nil {
		t.Fatal(err)
	}
	enc := pub.Bytes() // 04 || X || Y
	n := (len(enc) - 1) / 2
	point := append([]byte{2 | enc[len(enc)-1]&1}, enc[1:1+n]...)
	k.PublicKey = asn1.BitString{Bytes: point, BitLength: 8 * len(point)}
	der, err := asn1.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestStatusesTheSpecNowGives: the answers docs/PROTOCOL.md used not to
// state (§4.3, §6), one case each.
func TestStatusesTheSpecNowGives(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	keys := map[string]protocol.KeyInfo{}
	keep := func(t *testing.T, resp any) { k := resp.(*protocol.GenerateKeyResponse).Key; keys[k.Alias] = k }
	gen := func(alias, alg string, purposes ...string) opCase {
		return opCase{name: "make-" + alias, op: protocol.OpGenerateKey, want: protocol.StatusOK, check: keep,
			req: &protocol.GenerateKeyRequest{Alias: alias, Algorithm: alg, Purposes: purposes}}
	}
	runOpCases(t, c, []opCase{
		gen("ec", protocol.AlgECP256, "sign", "agree"),
		gen("ec384", protocol.AlgECP384, "agree"),
		gen("rsa", protocol.AlgRSA2048, "sign", "decrypt"),
		{name: "make-sealed", op: protocol.OpSeal, want: protocol.StatusOK, req: &protocol.SealRequest{Alias: "sealed", Secret: []byte("s")}},
		{name: "unknown-purpose", op: protocol.OpGenerateKey, want: protocol.StatusBadRequest,
			req: &protocol.GenerateKeyRequest{Alias: "x", Algorithm: protocol.AlgECP256, Purposes: []string{"fly"}}},
		{name: "generate-sealed", op: protocol.OpGenerateKey, want: protocol.StatusUnsupportedAlgorithm,
			req: &protocol.GenerateKeyRequest{Alias: "x", Algorithm: protocol.AlgSealed}},
		{name: "sign-pss-ec", op: protocol.OpSign, want: protocol.StatusBadRequest,
			req: &protocol.SignRequest{Alias: "ec", Message: []byte("m"), Hash: "sha256", PSS: true}},
		{name: "verify-pss-ec", op: protocol.OpVerify, want: protocol.StatusBadRequest,
			req: &protocol.VerifyRequest{Alias: "ec", Message: []byte("m"), Hash: "sha256", PSS: true, Signature: []byte{0x30, 0}}},
		{name: "verify-needs-sign", op: protocol.OpVerify, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.VerifyRequest{Alias: "ec384", Message: []byte("m"), Hash: "sha384", Signature: []byte{0x30, 0}}},
		{name: "verify-sealed", op: protocol.OpVerify, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.VerifyRequest{Alias: "sealed", Message: []byte("m"), Hash: "sha256", Signature: []byte{0x30, 0}}},
		{name: "made-up-cursor", op: protocol.OpListKeys, want: protocol.StatusBadRequest, req: &protocol.ListKeysRequest{Cursor: "not a cursor!"}},
		{name: "pin-for-key-without-one", op: protocol.OpSign, want: protocol.StatusWrongPIN,
			req: &protocol.SignRequest{Alias: "ec", Message: []byte("m"), Hash: "sha256", PIN: []byte("1234")}},
		{name: "pin-for-secret-without-one", op: protocol.OpUnseal, want: protocol.StatusWrongPIN,
			req: &protocol.UnsealRequest{Alias: "sealed", PIN: []byte("1234")}},
		{name: "no-pin-still-signs", op: protocol.OpSign, want: protocol.StatusOK,
			req: &protocol.SignRequest{Alias: "ec", Message: []byte("m"), Hash: "sha256"}},
	})
	rsaLen := parsePub(t, keys["rsa"].PublicKey).(*rsa.PublicKey).Size()
	runOpCases(t, c, []opCase{
		{name: "ciphertext-too-short", op: protocol.OpDecrypt, want: protocol.StatusBadRequest,
			req: &protocol.DecryptRequest{Alias: "rsa", Ciphertext: make([]byte, rsaLen-1)}},
		{name: "ciphertext-too-long", op: protocol.OpDecrypt, want: protocol.StatusBadRequest,
			req: &protocol.DecryptRequest{Alias: "rsa", Ciphertext: make([]byte, rsaLen+1)}},
	})
	runOpCases(t, c, ecdhPeerCases(t, keys))
	t.Run("empty-and-undefined-are-absent", func(t *testing.T) { emptyIsAbsent(t, c) })
}

func ecdhPeerCases(t *testing.T, keys map[string]protocol.KeyInfo) []opCase {
	p256, _ := ecdh.P256().GenerateKey(rand.Reader)
	p384, _ := ecdh.P384().GenerateKey(rand.Reader)
	shared := func(alias string, peer *ecdh.PrivateKey) func(*testing.T, any) {
		return func(t *testing.T, resp any) {
			own, err := parsePub(t, keys[alias].PublicKey).(*ecdsa.PublicKey).ECDH()
			if err != nil {
				t.Fatal(err)
			}
			want, _ := peer.ECDH(own)
			if got := resp.(*protocol.ECDHResponse).SharedSecret; !bytes.Equal(got, want) {
				t.Errorf("ECDH(%s, compressed peer) = %x, want %x (crypto/ecdh)", alias, got, want)
			}
		}
	}
	uncompressed, _ := x509.MarshalPKIXPublicKey(p256.PublicKey())
	offCurve := bytes.Clone(uncompressed)
	offCurve[len(offCurve)-1] ^= 1
	badX := compressedSPKI(t, p256.PublicKey())
	copy(badX[len(badX)-32:], bytes.Repeat([]byte{0xff}, 32)) // x above the field prime
	rsaDER := keys["rsa"].PublicKey
	ecdhCase := func(name, alias string, peer []byte, want protocol.Status, check func(*testing.T, any)) opCase {
		return opCase{name: name, op: protocol.OpECDH, want: want, check: check,
			req: &protocol.ECDHRequest{Alias: alias, PeerPublicKey: peer}}
	}
	return []opCase{
		ecdhCase("ecdh-compressed-p256", "ec", compressedSPKI(t, p256.PublicKey()), protocol.StatusOK, shared("ec", p256)),
		ecdhCase("ecdh-compressed-p384", "ec384", compressedSPKI(t, p384.PublicKey()), protocol.StatusOK, shared("ec384", p384)),
		ecdhCase("ecdh-uncompressed-p256", "ec", uncompressed, protocol.StatusOK, shared("ec", p256)),
		ecdhCase("ecdh-not-der", "ec", []byte("not a key"), protocol.StatusBadRequest, nil),
		ecdhCase("ecdh-trailing-bytes", "ec", append(bytes.Clone(uncompressed), 0), protocol.StatusBadRequest, nil),
		ecdhCase("ecdh-rsa-peer", "ec", rsaDER, protocol.StatusBadRequest, nil),
		ecdhCase("ecdh-other-curve", "ec", compressedSPKI(t, p384.PublicKey()), protocol.StatusBadRequest, nil),
		ecdhCase("ecdh-point-off-curve", "ec", offCurve, protocol.StatusBadRequest, nil),
		ecdhCase("ecdh-compressed-x-off-curve", "ec", badX, protocol.StatusBadRequest, nil),
	}
}

// emptyIsAbsent: an empty string, byte string or array, null and undefined
// are the same as leaving a field out (§4.3).
func emptyIsAbsent(t *testing.T, c *rawClient) {
	tests := []struct {
		name string
		op   protocol.Op
		body map[string]any
		want protocol.Status
	}{
		{"empty-digest-with-message", protocol.OpSign, map[string]any{"alias": "ec", "hash": "sha256", "digest": []byte{}, "message": []byte("m")}, protocol.StatusOK},
		{"undefined-digest-with-message", protocol.OpSign, map[string]any{"alias": "ec", "hash": "sha256", "digest": undefined, "message": []byte("m")}, protocol.StatusOK},
		{"empty-pin", protocol.OpSign, map[string]any{"alias": "ec", "hash": "sha256", "message": []byte("m"), "pin": []byte{}}, protocol.StatusOK},
		{"undefined-uid", protocol.OpGetKey, map[string]any{"alias": "ec", "uid": undefined}, protocol.StatusOK},
		{"null-uid", protocol.OpGetKey, map[string]any{"alias": "ec", "uid": nil}, protocol.StatusOK},
		{"empty-cursor", protocol.OpListKeys, map[string]any{"cursor": "", "limit": 0}, protocol.StatusOK},
		{"undefined-alias-is-missing", protocol.OpGetKey, map[string]any{"alias": undefined}, protocol.StatusBadRequest},
		{"empty-alias-is-missing", protocol.OpGetKey, map[string]any{"alias": ""}, protocol.StatusBadRequest},
		{"empty-purposes-pin-pcrs", protocol.OpGenerateKey, map[string]any{"alias": "e", "algorithm": "ec-p256", "purposes": []string{}, "pin": []byte{}, "pcrs": []uint{}}, protocol.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := protocol.NewResponse(tc.op)
			st, msg := c.callMap(tc.op, tc.body, resp)
			if st != tc.want {
				t.Fatalf("%s(%v) = %v (%s), want %v", tc.op, tc.body, st, msg, tc.want)
			}
			if g, ok := resp.(*protocol.GenerateKeyResponse); ok && st == protocol.StatusOK {
				if k := g.Key; k.HasPIN || len(k.PCRs) != 0 || len(k.Purposes) != 1 || k.Purposes[0] != "sign" {
					t.Errorf("GenerateKey(empty pin, pcrs, purposes) = %+v, want no PIN, no PCRs, purposes [sign]", k)
				}
			}
		})
	}
}
