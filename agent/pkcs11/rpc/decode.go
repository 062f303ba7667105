package rpc

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// Limits on counts inside one message. A count is also checked against
// the bytes left, so these only bound what a full-sized message can ask.
const (
	MaxAttributes = 256 // per attribute array or buffer
	MaxMechArray  = 256 // per CKA_ALLOWED_MECHANISMS value
	noData        = 0xffffffff
)

// Request is a parsed request message: its call and a cursor over its
// arguments, which are read in signature order. Errors are sticky: after
// the first, every read returns zero values and Err reports it.
type Request struct {
	Call Call
	data []byte
	off  int
	sig  string // what is left of the signature
	err  error
}

// ParseRequest reads the call id and the signature string at the start
// of msg and checks the signature against the call table. An unknown call
// is ErrUnknownCall (with Call set), so a server can answer it.
func ParseRequest(msg []byte) (*Request, error) {
	r := &Request{data: msg}
	id := r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("call id: %w", r.err)
	}
	r.Call = Call(id)
	if !r.Call.Known() || r.Call == CallError {
		return r, fmt.Errorf("call id %d: %w", id, ErrUnknownCall)
	}
	sig, ok := r.bytes()
	if r.err != nil || !ok {
		return nil, fmt.Errorf("%s: signature: %w", r.Call, ErrMalformed)
	}
	if string(sig) != r.Call.RequestSignature() {
		return nil, fmt.Errorf("%s: signature %q, want %q: %w", r.Call, sig, r.Call.RequestSignature(), ErrMalformed)
	}
	r.sig = r.Call.RequestSignature()
	return r, nil
}

// Err is the first error met.
func (r *Request) Err() error { return r.err }

// Done checks that every argument was read and no bytes are left.
func (r *Request) Done() error {
	if r.err == nil && (r.sig != "" || r.off != len(r.data)) {
		r.fail("%d bytes and %q left over", len(r.data)-r.off, r.sig)
	}
	return r.err
}

func (r *Request) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s: %w", r.Call, fmt.Sprintf(format, args...), ErrMalformed)
	}
}

// part consumes p from the signature.
func (r *Request) part(p string) bool {
	if r.err != nil {
		return false
	}
	if !strings.HasPrefix(r.sig, p) {
		r.fail("read %q where the signature has %q", p, r.sig)
		return false
	}
	r.sig = r.sig[len(p):]
	return true
}

func (r *Request) need(n int) bool {
	if r.err != nil {
		return false
	}
	if n < 0 || len(r.data)-r.off < n {
		r.fail("truncated at byte %d (need %d more)", r.off, n)
		return false
	}
	return true
}

func (r *Request) u8() byte {
	if !r.need(1) {
		return 0
	}
	r.off++
	return r.data[r.off-1]
}

func (r *Request) u32() uint32 {
	if !r.need(4) {
		return 0
	}
	r.off += 4
	return binary.BigEndian.Uint32(r.data[r.off-4:])
}

func (r *Request) u64() uint64 {
	if !r.need(8) {
		return 0
	}
	r.off += 8
	return binary.BigEndian.Uint64(r.data[r.off-8:])
}

// bytes reads a u32-prefixed byte array; ok is false for "no data". The
// slice aliases the message.
func (r *Request) bytes() (b []byte, ok bool) {
	n := r.u32()
	if r.err != nil || n == noData {
		return nil, false
	}
	if n >= 0x7fffffff || !r.need(int(n)) {
		r.fail("byte array of %d bytes past the end", n)
		return nil, false
	}
	r.off += int(n)
	return r.data[r.off-int(n) : r.off : r.off], true
}

// Byte reads a "y".
func (r *Request) Byte() byte {
	if !r.part("y") {
		return 0
	}
	return r.u8()
}

// Ulong reads a "u".
func (r *Request) Ulong() uint64 {
	if !r.part("u") {
		return 0
	}
	return r.u64()
}

// ByteArray reads an "ay": present is false for a NULL pointer.
func (r *Request) ByteArray() (b []byte, present bool) {
	if !r.part("ay") {
		return nil, false
	}
	if r.u8() == 0 {
		return nil, false
	}
	b, ok := r.bytes()
	if !ok && r.err == nil {
		return nil, true // a valid pointer with no data: empty
	}
	return b, true
}

// Text reads a "z" (a string).
func (r *Request) Text() string {
	if !r.part("z") {
		return ""
	}
	b, _ := r.bytes()
	return string(b)
}

// ByteBuffer reads an "fy": the size of the caller's output buffer (0
// asks for the size only). Nothing is allocated for it.
func (r *Request) ByteBuffer() uint32 {
	if !r.part("fy") {
		return 0
	}
	return r.u32()
}

// UlongBuffer reads an "fu", like ByteBuffer.
func (r *Request) UlongBuffer() uint32 {
	if !r.part("fu") {
		return 0
	}
	return r.u32()
}

// AttrBuffer reads an "fA": the attributes asked for and their buffers.
func (r *Request) AttrBuffer() []AttrRequest {
	if !r.part("fA") {
		return nil
	}
	n := r.u32()
	if !r.count(n, 8, MaxAttributes) {
		return nil
	}
	out := make([]AttrRequest, n)
	for i := range out {
		out[i] = AttrRequest{Type: r.u32(), BufLen: r.u32()}
	}
	return out
}

// count checks a count of items at least each bytes long against limit
// and the bytes left.
func (r *Request) count(n uint32, each int, limit int) bool {
	if r.err != nil {
		return false
	}
	if int64(n) > int64(limit) || int64(n)*int64(each) > int64(len(r.data)-r.off) {
		r.fail("count %d over the limit or past the end", n)
		return false
	}
	return true
}

// Attributes reads an "aA".
func (r *Request) Attributes() []Attribute {
	if !r.part("aA") {
		return nil
	}
	n := r.u32()
	if !r.count(n, 5, MaxAttributes) {
		return nil
	}
	out := make([]Attribute, 0, n)
	for range n {
		a := r.attribute()
		if r.err != nil {
			return nil
		}
		out = append(out, a)
	}
	return out
}

func (r *Request) attribute() Attribute {
	a := Attribute{Type: r.u32()}
	if r.u8() == 0 {
		a.Invalid = true
		return a
	}
	declared := r.u32()
	switch kindOf(a.Type) {
	case kindByte:
		a.Value = []byte{r.u8()}
	case kindUlong:
		a.Value = put64(nil, r.u64())
	case kindMechArray:
		n := r.u32()
		if !r.count(n, 8, MaxMechArray) {
			return a
		}
		a.Value = make([]byte, 0, 8*n)
		for range n {
			a.Value = put64(a.Value, r.u64())
		}
	case kindAttrArray:
		r.fail("nested attribute array 0x%x", a.Type)
	default: // bytes, date
		b, _ := r.bytes()
		if r.err == nil && uint32(len(b)) > declared {
			r.fail("attribute 0x%x: %d bytes, declared %d", a.Type, len(b), declared)
		}
		a.Value = b
	}
	return a
}

// Mechanism reads an "M".
func (r *Request) Mechanism() Mechanism {
	if !r.part("M") {
		return Mechanism{}
	}
	m := Mechanism{Type: r.u32()}
	switch mechParamKind(m.Type) {
	case 'p':
		m.PSS = [3]uint64{r.u64(), r.u64(), r.u64()}
		m.HasPSS = true
	case 'o':
		m.OAEP = [3]uint64{r.u64(), r.u64(), r.u64()}
		m.OAEPSource, _ = r.bytes()
		m.HasOAEP = true
	case 'e':
		m.ECDHKDF = r.u64()
		m.ECDHSharedData, _ = r.bytes()
		m.ECDHPublicData, _ = r.bytes()
		m.HasECDH = true
	default:
		m.Params, _ = r.bytes()
	}
	return m
}
