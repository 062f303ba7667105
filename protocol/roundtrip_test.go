package protocol

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

// readRequest is what a server does with one frame from the stream.
func readRequest(r *bytes.Reader) (RequestHeader, any, error) {
	payload, err := ReadFrame(r, 0)
	if err != nil {
		return RequestHeader{}, nil, err
	}
	h, body, err := ParseRequest(payload)
	if err != nil {
		return h, nil, err
	}
	req, err := DecodeRequest(h.Op, body)
	return h, req, err
}

func TestRoundTripRequests(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			frame, err := AppendRequest(nil, RequestHeader{Op: v.op, ID: v.id}, v.req)
			if err != nil {
				t.Fatalf("AppendRequest(%s) error: %v", v.op, err)
			}
			h, got, err := readRequest(bytes.NewReader(frame))
			if err != nil {
				t.Fatalf("decode %s request: %v", v.op, err)
			}
			if want := (RequestHeader{Version: Version1, Op: v.op, ID: v.id}); h != want {
				t.Errorf("header = %+v, want %+v", h, want)
			}
			if !reflect.DeepEqual(got, v.req) {
				t.Errorf("DecodeRequest(%s) = %#v, want %#v", v.op, got, v.req)
			}
		})
	}
}

func TestRoundTripResponses(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			want := ResponseHeader{Version: Version1, Op: v.op, ID: v.id, Status: StatusOK}
			frame, err := AppendResponse(nil, want, v.resp)
			if err != nil {
				t.Fatalf("AppendResponse(%s) error: %v", v.op, err)
			}
			payload, err := ReadFrame(bytes.NewReader(frame), 0)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			h, body, err := ParseResponse(payload)
			if err != nil || h != want {
				t.Fatalf("ParseResponse = %+v, %v, want %+v, nil", h, err, want)
			}
			got := NewResponse(v.op)
			if err := DecodeResponse(h, body, got); err != nil {
				t.Fatalf("DecodeResponse(%s): %v", v.op, err)
			}
			if !reflect.DeepEqual(got, v.resp) {
				t.Errorf("DecodeResponse(%s) = %#v, want %#v", v.op, got, v.resp)
			}
		})
	}
}

func TestRoundTripErrorResponse(t *testing.T) {
	req := RequestHeader{Version: Version1, Op: OpGetKey, ID: 77}
	frame, err := AppendErrorResponse(nil, req, Errorf(StatusKeyNotFound, "no key %q", "web"))
	if err != nil {
		t.Fatalf("AppendErrorResponse: %v", err)
	}
	payload, err := ReadFrame(bytes.NewReader(frame), 0)
	if err != nil {
		t.Fatalf("ReadFrame: %v", err)
	}
	h, body, err := ParseResponse(payload)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	err = DecodeResponse(h, body, new(GetKeyResponse))
	if !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("DecodeResponse(KEY_NOT_FOUND) = %v, want errors.Is ErrKeyNotFound", err)
	}
	if got, want := err.Error(), `KEY_NOT_FOUND: no key "web"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if h.ID != 77 || h.Op != OpGetKey {
		t.Errorf("header = %+v, want id 77 op GetKey echoed", h)
	}
}

// TestPipelinedFrames appends several frames into one reused buffer, as a
// pipelining client does, and reads them back in order.
func TestPipelinedFrames(t *testing.T) {
	var stream []byte
	vs := vectors()
	for _, v := range vs {
		var err error
		stream, err = AppendRequest(stream, RequestHeader{Op: v.op, ID: v.id}, v.req)
		if err != nil {
			t.Fatalf("AppendRequest(%s): %v", v.op, err)
		}
	}
	r := bytes.NewReader(stream)
	for _, v := range vs {
		h, got, err := readRequest(r)
		if err != nil || h.ID != v.id || !reflect.DeepEqual(got, v.req) {
			t.Fatalf("frame %d = %+v, %v, want %s request", v.id, h, err, v.op)
		}
	}
	if _, err := ReadFrame(r, 0); !errors.Is(err, io.EOF) {
		t.Errorf("ReadFrame at end = %v, want io.EOF", err)
	}
}

func TestNilBodyIsEmptyMap(t *testing.T) {
	frame, err := AppendRequest([]byte("prefix"), RequestHeader{Op: OpStatus, ID: 9}, nil)
	if err != nil {
		t.Fatalf("AppendRequest: %v", err)
	}
	want := mustHex("707265666978" + "00000009" + "0100000e00000009" + "a0")
	if !bytes.Equal(frame, want) {
		t.Errorf("AppendRequest(nil body) = %x, want %x", frame, want)
	}
}

func TestWriteFrame(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteFrame(&buf, []byte("abc")); err != nil {
		t.Fatalf("WriteFrame: %v", err)
	}
	if got, want := buf.Bytes(), []byte("\x00\x00\x00\x03abc"); !bytes.Equal(got, want) {
		t.Errorf("WriteFrame(abc) wrote %q, want %q", got, want)
	}
	if err := WriteFrame(&buf, nil); !errors.Is(err, ErrEmptyFrame) {
		t.Errorf("WriteFrame(nil) = %v, want ErrEmptyFrame", err)
	}
}

func TestNegotiateVersion(t *testing.T) {
	tests := []struct {
		name    string
		offered []uint
		want    uint
		wantErr error
	}{
		{"only-1", []uint{1}, 1, nil},
		{"future-and-1", []uint{3, 2, 1}, 1, nil},
		{"none-common", []uint{2, 3}, 0, ErrUnsupportedVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NegotiateVersion(tt.offered)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("NegotiateVersion(%v) = %d, %v, want %d, %v", tt.offered, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
