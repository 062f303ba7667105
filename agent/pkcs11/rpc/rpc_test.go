package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// msg builds a request message: call id, its signature, then raw parts.
func msg(call Call, sig string, parts ...[]byte) []byte {
	b := put32(nil, uint32(call))
	b = putBytes(b, []byte(sig))
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func u32(v uint32) []byte { return put32(nil, v) }
func u64(v uint64) []byte { return put64(nil, v) }

func TestParseRequestRoundTrip(t *testing.T) {
	m := msg(CallFindObjectsInit, "uaA",
		u64(7), u32(2),
		u32(0x0), []byte{1}, u32(8), u64(3), // CKA_CLASS = CKO_PRIVATE_KEY
		u32(0x3), []byte{1}, u32(3), u32(3), []byte("web"), // CKA_LABEL = "web"
	)
	r, err := ParseRequest(m)
	if err != nil {
		t.Fatalf("ParseRequest = %v", err)
	}
	if h := r.Ulong(); h != 7 {
		t.Errorf("Ulong() = %d, want 7", h)
	}
	attrs := r.Attributes()
	if err := r.Done(); err != nil {
		t.Fatalf("Done() = %v", err)
	}
	if len(attrs) != 2 {
		t.Fatalf("Attributes() = %d attributes, want 2", len(attrs))
	}
	if v, ok := attrs[0].Ulong(); !ok || v != 3 {
		t.Errorf("CKA_CLASS = %d %v, want 3", v, ok)
	}
	if string(attrs[1].Value) != "web" {
		t.Errorf("CKA_LABEL = %q, want web", attrs[1].Value)
	}
}

func TestMechanismParams(t *testing.T) {
	pss := msg(CallSignInit, "uMu", u64(1), u32(0x0d), u64(0x250), u64(2), u64(32), u64(5))
	r, err := ParseRequest(pss)
	if err != nil {
		t.Fatal(err)
	}
	r.Ulong()
	m := r.Mechanism()
	r.Ulong()
	if err := r.Done(); err != nil || !m.HasPSS || m.PSS != [3]uint64{0x250, 2, 32} {
		t.Errorf("Mechanism(PSS) = %+v, %v; want hashAlg 0x250, mgf 2, sLen 32", m, err)
	}
	ecdh := msg(CallDeriveKey, "uMuaA", u64(1), u32(0x1050), u64(1), u32(noData), u32(3), []byte{4, 1, 2}, u64(9), u32(0))
	r, _ = ParseRequest(ecdh)
	r.Ulong()
	m = r.Mechanism()
	r.Ulong()
	r.Attributes()
	if err := r.Done(); err != nil || !m.HasECDH || m.ECDHKDF != 1 || !bytes.Equal(m.ECDHPublicData, []byte{4, 1, 2}) {
		t.Errorf("Mechanism(ECDH1_DERIVE) = %+v, %v", m, err)
	}
}

// TestMalformedRequests is a table of bad messages: each gets an error,
// none a panic or an allocation sized by the wire.
func TestMalformedRequests(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		read func(r *Request)
		want error
	}{
		{"empty", nil, nil, ErrMalformed},
		{"short-call-id", []byte{0, 0}, nil, ErrMalformed},
		{"unknown-call", msg(Call(999), ""), nil, ErrUnknownCall},
		{"error-call-as-request", msg(CallError, "u"), nil, ErrUnknownCall},
		{"no-signature", u32(uint32(CallGetInfo)), nil, ErrMalformed},
		{"signature-past-end", append(u32(uint32(CallGetInfo)), u32(100)...), nil, ErrMalformed},
		{"wrong-signature", msg(CallSign, "uu", u64(1), u64(2)), nil, ErrMalformed},
		{"null-signature", append(u32(uint32(CallGetInfo)), u32(noData)...), nil, ErrMalformed},
		{"truncated-ulong", msg(CallCloseSession, "u", []byte{0, 0, 0}), func(r *Request) { r.Ulong() }, ErrMalformed},
		{"trailing-bytes", msg(CallCloseSession, "u", u64(1), []byte{9}), func(r *Request) { r.Ulong() }, ErrMalformed},
		{"unread-argument", msg(CallOpenSession, "uu", u64(1), u64(6)), func(r *Request) { r.Ulong() }, ErrMalformed},
		{"read-out-of-order", msg(CallOpenSession, "uu", u64(1), u64(6)), func(r *Request) { r.Byte() }, ErrMalformed},
		{"byte-array-past-end", msg(CallSign, "uayfy", u64(1), []byte{1}, u32(1<<30)), func(r *Request) { r.Ulong(); r.ByteArray() }, ErrMalformed},
		{"byte-array-huge", msg(CallSign, "uayfy", u64(1), []byte{1}, u32(0x7fffffff)), func(r *Request) { r.Ulong(); r.ByteArray() }, ErrMalformed},
		{"absurd-attribute-count", msg(CallFindObjectsInit, "uaA", u64(1), u32(0xffffffff)), func(r *Request) { r.Ulong(); r.Attributes() }, ErrMalformed},
		{"attribute-count-past-end", msg(CallFindObjectsInit, "uaA", u64(1), u32(200)), func(r *Request) { r.Ulong(); r.Attributes() }, ErrMalformed},
		{"absurd-attr-buffer-count", msg(CallGetAttributeValue, "uufA", u64(1), u64(2), u32(1<<28)), func(r *Request) { r.Ulong(); r.Ulong(); r.AttrBuffer() }, ErrMalformed},
		{"nested-attribute-array", msg(CallFindObjectsInit, "uaA", u64(1), u32(1), u32(attrWrapTemplate), []byte{1}, u32(0), u32(0)), func(r *Request) { r.Ulong(); r.Attributes() }, ErrMalformed},
		{"absurd-mechanism-array", msg(CallFindObjectsInit, "uaA", u64(1), u32(1), u32(attrAllowedMechs), []byte{1}, u32(8), u32(1<<30)), func(r *Request) { r.Ulong(); r.Attributes() }, ErrMalformed},
		{"attribute-longer-than-declared", msg(CallFindObjectsInit, "uaA", u64(1), u32(1), u32(3), []byte{1}, u32(1), u32(3), []byte("abc")), func(r *Request) { r.Ulong(); r.Attributes() }, ErrMalformed},
		{"truncated-pss-params", msg(CallSignInit, "uMu", u64(1), u32(0x0d), u64(0x250)), func(r *Request) { r.Ulong(); r.Mechanism() }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRequest(tt.msg)
			if err == nil && tt.read != nil {
				tt.read(r)
				err = r.Done()
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("ParseRequest+read(%x) = %v, want %v", tt.msg, err, tt.want)
			}
		})
	}
}

func TestFrameHeader(t *testing.T) {
	tests := []struct {
		name    string
		hdr     FrameHeader
		wantErr error
	}{
		{"ok", FrameHeader{Code: 0x10, OptionsLen: 14, DataLen: 100}, nil},
		{"zero-code", FrameHeader{Code: 0, DataLen: 100}, ErrMalformed},
		{"empty-message", FrameHeader{Code: 1}, ErrMalformed},
		{"huge-options", FrameHeader{Code: 1, OptionsLen: 1 << 31, DataLen: 1}, ErrTooLarge},
		{"huge-message", FrameHeader{Code: 1, DataLen: 0xffffffff}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, HeaderSize)
			binary.BigEndian.PutUint32(b, tt.hdr.Code)
			binary.BigEndian.PutUint32(b[4:], tt.hdr.OptionsLen)
			binary.BigEndian.PutUint32(b[8:], tt.hdr.DataLen)
			_, err := ReadFrameHeader(bytes.NewReader(b), 1<<20)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ReadFrameHeader(%+v) = %v, want %v", tt.hdr, err, tt.wantErr)
			}
		})
	}
	if _, err := ReadFrameHeader(bytes.NewReader([]byte{0, 0, 0}), 1<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadFrameHeader(3 bytes) = %v, want %v", err, io.ErrUnexpectedEOF)
	}
}

func TestNegotiate(t *testing.T) {
	for _, offered := range []byte{0, 1, 2, 200} {
		var out bytes.Buffer
		v, err := Negotiate(readWriter{bytes.NewReader([]byte{offered}), &out})
		if err != nil || v != 0 || !bytes.Equal(out.Bytes(), []byte{0}) {
			t.Errorf("Negotiate(%d) = %d, %v (wrote %x), want 0", offered, v, err, out.Bytes())
		}
	}
}

type readWriter struct {
	io.Reader
	io.Writer
}

func TestResponseSignatureChecked(t *testing.T) {
	w := NewResponse(nil, CallOpenSession)
	w.Byte(1)
	if _, err := w.Bytes(); err == nil {
		t.Errorf("Bytes() after a wrong write = nil error, want one")
	}
	w = NewResponse(nil, CallOpenSession)
	w.Ulong(5)
	b, err := w.Bytes()
	want := append(msg(CallOpenSession, "u"), u64(5)...)
	if err != nil || !bytes.Equal(b, want) {
		t.Errorf("OpenSession response = %x, %v; want %x", b, err, want)
	}
}
