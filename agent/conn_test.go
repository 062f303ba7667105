//go:build linux

package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

func TestHelloMustBeFirst(t *testing.T) {
	td := startDaemon(t, "")
	c := dialRaw(t, td.socket)
	if st, _ := c.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != protocol.StatusBadRequest {
		t.Fatalf("Status before Hello = %v, want BAD_REQUEST", st)
	}
	if st, _ := c.call(protocol.OpHello, &protocol.HelloRequest{Versions: []uint{7}}, nil); st != protocol.StatusUnsupportedVersion {
		t.Fatalf("Hello(versions [7]) = %v, want UNSUPPORTED_VERSION", st)
	}
	var hello protocol.HelloResponse
	if st, msg := c.call(protocol.OpHello, &protocol.HelloRequest{Versions: []uint{2, 1}}, &hello); st != protocol.StatusOK {
		t.Fatalf("Hello(versions [2 1]) = %v (%s), want OK", st, msg)
	}
	if hello.Version != 1 || hello.MaxFrameSize != 1<<20 || len(hello.Operations) != len(protocol.V1Ops()) || len(hello.Algorithms) == 0 {
		t.Errorf("Hello = %+v, want version 1, 1 MiB frames, every version-1 operation, some algorithms", hello)
	}
	if st, _ := c.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != protocol.StatusOK {
		t.Errorf("Status after Hello = %v, want OK", st)
	}
}

// frame builds a raw frame: a length prefix and payload.
func frame(length uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	return append(b, payload...)
}

func header(version, flags uint8, op uint16, id uint32) []byte {
	b := []byte{version, flags}
	b = binary.BigEndian.AppendUint16(b, op)
	return binary.BigEndian.AppendUint32(b, id)
}

func TestMalformedFrames(t *testing.T) {
	td := startDaemon(t, "")
	tests := []struct {
		name       string
		hello      bool
		send       []byte
		halfClose  bool
		wantStatus protocol.Status // of the answer; StatusOK means no answer expected
		wantClose  bool
	}{
		{name: "length-ffffffff", send: frame(0xFFFFFFFF, nil), wantStatus: protocol.StatusFrameTooLarge, wantClose: true},
		{name: "zero-length", send: frame(0, nil), wantStatus: protocol.StatusBadRequest, wantClose: true},
		{name: "shorter-than-header", send: frame(3, []byte{1, 0, 0}), wantStatus: protocol.StatusBadRequest, wantClose: true},
		{name: "garbage", send: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wantStatus: protocol.StatusFrameTooLarge, wantClose: true},
		{name: "half-frame-then-close", send: frame(100, header(1, 0, 1, 1)), halfClose: true, wantClose: true},
		{name: "unknown-opcode", hello: true, send: frame(9, append(header(1, 0, 999, 42), 0xa0)), wantStatus: protocol.StatusUnknownOp},
		{name: "reserved-opcode", hello: true, send: frame(9, append(header(1, 0, 37, 43), 0xa0)), wantStatus: protocol.StatusUnknownOp},
		{name: "bad-version", hello: true, send: frame(9, append(header(9, 0, 6, 44), 0xa0)), wantStatus: protocol.StatusUnsupportedVersion},
		{name: "body-not-cbor-map", hello: true, send: frame(9, append(header(1, 0, 6, 45), 0xff)), wantStatus: protocol.StatusBadRequest},
		{name: "truncated-cbor", hello: true, send: frame(10, append(header(1, 0, 6, 46), 0xa1, 0x65)), wantStatus: protocol.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c *rawClient
			if tc.hello {
				c = dialHello(t, td.socket)
			} else {
				c = dialRaw(t, td.socket)
			}
			c.sendRaw(tc.send)
			if tc.halfClose {
				c.nc.(interface{ CloseWrite() error }).CloseWrite()
			}
			if tc.wantStatus != protocol.StatusOK {
				h, _ := c.mustRecv()
				if h.Status != tc.wantStatus {
					t.Fatalf("answer to %x = %v, want %v", tc.send[:min(len(tc.send), 12)], h.Status, tc.wantStatus)
				}
			}
			if tc.wantClose {
				c.expectClosed()
				return
			}
			// The connection still serves.
			if st, _ := c.call(protocol.OpGetRandom, &protocol.GetRandomRequest{N: 8}, nil); st != protocol.StatusOK {
				t.Errorf("GetRandom after %s = %v, want OK", tc.name, st)
			}
		})
	}
	// Another client is served all along.
	c := dialHello(t, td.socket)
	if st, _ := c.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != protocol.StatusOK {
		t.Errorf("Status from a fresh client = %v, want OK", st)
	}
}

func TestFrameTooLargeFromConfig(t *testing.T) {
	td := startDaemon(t, "[limits]\nmax_frame_size = 4096\n")
	c := dialHello(t, td.socket)
	c.send(protocol.OpSign, &protocol.SignRequest{Alias: "k", Message: make([]byte, 5000), Hash: "sha256"})
	h, _ := c.mustRecv()
	if h.Status != protocol.StatusFrameTooLarge {
		t.Fatalf("5000-byte Sign with a 4096-byte limit = %v, want FRAME_TOO_LARGE", h.Status)
	}
	c.expectClosed()
}

// TestPipelining sends a slow RSA keygen, then requests that need no TPM
// (GetKey, Verify) and signs, on one connection. The TPM serialises the
// keygen and the signs, but the others must be answered before the keygen:
// requests wait for each other only at the TPM.
func TestPipelining(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "ec", Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v (%s)", st, msg)
	}
	digest := sha256.Sum256([]byte("x"))
	rsaID := c.send(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "rsa", Algorithm: protocol.AlgRSA2048})
	noTPM, signs := map[uint32]bool{}, map[uint32]bool{}
	for i := range 30 {
		if i%2 == 0 {
			noTPM[c.send(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "ec"})] = true
		} else {
			noTPM[c.send(protocol.OpVerify, &protocol.VerifyRequest{Alias: "ec", Digest: digest[:], Hash: "sha256", Signature: []byte{1}})] = true
		}
		signs[c.send(protocol.OpSign, &protocol.SignRequest{Alias: "ec", Digest: digest[:], Hash: "sha256"})] = true
	}
	total := 1 + len(noTPM) + len(signs)
	rsaDone := false
	for range total {
		h, body := c.mustRecv()
		if st, msg := decodeAnswer(t, h, body, nil); st != protocol.StatusOK {
			t.Fatalf("response %d (%v) = %v (%s), want OK", h.ID, h.Op, st, msg)
		}
		switch {
		case h.ID == rsaID:
			rsaDone = true
		case noTPM[h.ID]:
			if rsaDone {
				t.Errorf("%v (id %d) answered after the RSA keygen, want before: it needs no TPM", h.Op, h.ID)
			}
			delete(noTPM, h.ID)
		case signs[h.ID]:
			delete(signs, h.ID)
		default:
			t.Fatalf("response id %d was never sent or came twice", h.ID)
		}
	}
}

// TestSlowClients: a frame that stalls half-way is cut off after
// read_timeout, and a silent connection after idle_timeout; another client
// is served meanwhile.
func TestSlowClients(t *testing.T) {
	td := startDaemon(t, "[limits]\nread_timeout = \"300ms\"\nidle_timeout = \"500ms\"\n")
	tests := []struct {
		name string
		send []byte
	}{
		{"stalled-frame", frame(100, header(1, 0, 1, 1))},
		{"idle-connection", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, td.socket)
			if tc.send != nil {
				c.sendRaw(tc.send)
			}
			other := dialHello(t, td.socket)
			if st, _ := other.call(protocol.OpStatus, &protocol.StatusRequest{}, nil); st != protocol.StatusOK {
				t.Errorf("Status from another client = %v, want OK", st)
			}
			c.expectClosed()
		})
	}
}

// TestPipelinedHelloAndStatus: Hello frames pipelined between requests
// that run on workers. Under -race this showed a data race on conn.hello
// (written by the reader, read by workers); only the reader reads it now.
func TestPipelinedHelloAndStatus(t *testing.T) {
	td := startDaemon(t, "")
	c := dialRaw(t, td.socket)
	var reqs []byte
	n := 0
	for i := range 40 {
		var op protocol.Op = protocol.OpStatus
		var body any = &protocol.StatusRequest{}
		if i%4 == 0 {
			op, body = protocol.OpHello, &protocol.HelloRequest{Versions: []uint{1}}
		}
		f, err := protocol.AppendRequest(nil, protocol.RequestHeader{Op: op, ID: uint32(i + 1)}, body)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, f...)
		n++
	}
	c.sendRaw(reqs)
	for range n {
		h, _ := c.mustRecv()
		if h.Status != protocol.StatusOK {
			t.Errorf("response to request %d (%s) = %v, want OK", h.ID, h.Op, h.Status)
		}
	}
}
