package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReadFrame feeds arbitrary bytes through what a server does with a
// stream: read a frame, parse its header, decode its body.
func FuzzReadFrame(f *testing.F) {
	const limit = 4096
	f.Fuzz(func(t *testing.T, data []byte) {
		payload, err := ReadFrame(bytes.NewReader(data), limit)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
				!errors.Is(err, ErrEmptyFrame) && !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("ReadFrame error %v is not EOF, empty or too large", err)
			}
			return
		}
		if len(payload) == 0 || len(payload) > limit || len(payload) > len(data)-LengthPrefixSize {
			t.Fatalf("ReadFrame payload of %d bytes from %d input bytes, limit %d", len(payload), len(data), limit)
		}
		h, body, err := ParseRequest(payload)
		if err != nil {
			if _, ok := errors.AsType[*Error](err); !ok {
				t.Fatalf("ParseRequest error %v is not an *Error", err)
			}
			return
		}
		checkDecode(t, h.Op, body)
	})
}

// FuzzDecodeRequest decodes arbitrary bodies as the request of any opcode,
// which covers every request type.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, op uint16, body []byte) {
		checkDecode(t, Op(op), body)
	})
}

// checkDecode asserts DecodeRequest's contract: BAD_REQUEST or UNKNOWN_OP
// errors only, and a result that re-encodes stably and validates.
func checkDecode(t *testing.T, op Op, body []byte) {
	req, err := DecodeRequest(op, body)
	if err != nil {
		e, ok := errors.AsType[*Error](err)
		want := StatusBadRequest
		if !op.IsV1() {
			want = StatusUnknownOp
		}
		if !ok || e.Status != want {
			t.Fatalf("DecodeRequest(%s) error = %v, want an *Error with %s", op, err, want)
		}
		return
	}
	first, err := AppendRequest(nil, RequestHeader{Op: op, ID: 1}, req)
	if err != nil {
		t.Fatalf("re-encode %s: %v", op, err)
	}
	again, err := DecodeRequest(op, first[LengthPrefixSize+RequestHeaderSize:])
	if err != nil {
		t.Fatalf("decode re-encoded %s %x: %v", op, first, err)
	}
	second, err := AppendRequest(nil, RequestHeader{Op: op, ID: 1}, again)
	if err != nil || !bytes.Equal(first, second) {
		t.Fatalf("re-encoding %s is unstable: %x then %x (%v)", op, first, second, err)
	}
}
