package rpc

import "fmt"

// Response builds a response message in signature order. A write that
// does not match the call's response signature is a bug in the server;
// it is recorded and reported by Bytes, never sent.
type Response struct {
	call Call
	buf  []byte
	sig  string
	err  error
}

// NewResponse starts the response to call, appended to dst (a caller
// may leave room there for the frame header).
func NewResponse(dst []byte, call Call) *Response {
	w := &Response{call: call, buf: dst, sig: call.ResponseSignature()}
	w.buf = put32(w.buf, uint32(call))
	w.buf = putBytes(w.buf, []byte(w.sig))
	return w
}

// ErrorMessage is the response that carries the CK_RV rv instead of the
// call's results, appended to dst.
func ErrorMessage(dst []byte, rv uint64) []byte {
	w := NewResponse(dst, CallError)
	w.Ulong(rv)
	b, _ := w.Bytes()
	return b
}

// Bytes returns the message, or the first misuse.
func (w *Response) Bytes() ([]byte, error) {
	if w.err == nil && w.sig != "" {
		w.err = fmt.Errorf("%s response: %q not written", w.call, w.sig)
	}
	return w.buf, w.err
}

func (w *Response) part(p string) bool {
	if w.err != nil {
		return false
	}
	if len(w.sig) < len(p) || w.sig[:len(p)] != p {
		w.err = fmt.Errorf("%s response: wrote %q where the signature has %q", w.call, p, w.sig)
		return false
	}
	w.sig = w.sig[len(p):]
	return true
}

// Byte writes a "y".
func (w *Response) Byte(v byte) {
	if w.part("y") {
		w.buf = append(w.buf, v)
	}
}

// Ulong writes a "u".
func (w *Response) Ulong(v uint64) {
	if w.part("u") {
		w.buf = put64(w.buf, v)
	}
}

// Version writes a "v" (CK_VERSION).
func (w *Response) Version(major, minor byte) {
	if w.part("v") {
		w.buf = append(w.buf, major, minor)
	}
}

// SpaceString writes an "s": s padded with spaces (or cut) to n bytes, as
// CK_INFO and friends hold them.
func (w *Response) SpaceString(s string, n int) {
	if !w.part("s") {
		return
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = ' '
	}
	copy(b, s)
	w.buf = putBytes(w.buf, b)
}

// ByteArray writes an "ay" with data.
func (w *Response) ByteArray(b []byte) {
	if w.part("ay") {
		w.buf = append(w.buf, 1)
		w.buf = putBytes(w.buf, b)
	}
}

// ByteArrayLen writes an "ay" that gives only a length: the answer to a
// size query, or to a buffer that is too small.
func (w *Response) ByteArrayLen(n uint32) {
	if w.part("ay") {
		w.buf = append(w.buf, 0)
		w.buf = put32(w.buf, n)
	}
}

// UlongArray writes an "au" with data.
func (w *Response) UlongArray(v []uint64) {
	if w.part("au") {
		w.buf = append(w.buf, 1)
		w.buf = put32(w.buf, uint32(len(v)))
		for _, x := range v {
			w.buf = put64(w.buf, x)
		}
	}
}

// UlongArrayLen writes an "au" that gives only a count.
func (w *Response) UlongArrayLen(n uint32) {
	if w.part("au") {
		w.buf = append(w.buf, 0)
		w.buf = put32(w.buf, n)
	}
}

// Attributes writes an "aA". An attribute whose Value is nil and not
// Invalid is sent with its length only (sizeOnly[i] true): the value of a
// size query is not put on the wire.
func (w *Response) Attributes(attrs []Attribute, sizeOnly []bool) {
	if !w.part("aA") {
		return
	}
	w.buf = put32(w.buf, uint32(len(attrs)))
	for i, a := range attrs {
		w.buf = put32(w.buf, a.Type)
		if a.Invalid {
			w.buf = append(w.buf, 0)
			continue
		}
		w.buf = append(w.buf, 1)
		w.buf = put32(w.buf, a.nativeLen())
		switch kindOf(a.Type) {
		case kindByte:
			w.buf = append(w.buf, firstByte(a.Value))
		case kindUlong:
			v, _ := a.Ulong()
			w.buf = put64(w.buf, v)
		case kindMechArray:
			w.buf = put32(w.buf, uint32(len(a.Value)/8))
			w.buf = append(w.buf, a.Value[:len(a.Value)/8*8]...)
		default:
			if i < len(sizeOnly) && sizeOnly[i] {
				w.buf = put32(w.buf, noData)
			} else {
				w.buf = putBytes(w.buf, a.Value)
			}
		}
	}
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}

func putBytes(dst, b []byte) []byte {
	dst = put32(dst, uint32(len(b)))
	return append(dst, b...)
}
