package protocol

import (
	"cmp"
	"math"
	"slices"
	"unicode/utf8"
)

// The AEAD messages carry up to a megabyte in one byte string, where the
// general CBOR codec's costs (a growing encode buffer, a fresh copy of each
// byte string on decode) were most of the daemon's time. Their codec here
// is hand-written: the encoding is byte for byte the one the general
// encoder makes (core deterministic, tested against it), and the decoder
// takes only the plain form (a definite-length map of the known text keys,
// each once, definite-length strings) and hands anything else to the
// general decoder, so that every error and every odd-but-valid encoding is
// treated exactly as before.

// fastEncoder is a body with its own encoder.
type fastEncoder interface {
	// cborSize is the exact length of the encoding.
	cborSize() int
	// appendCBORHead appends the encoding up to the data of its last
	// item, a byte string, which is tail.
	appendCBORHead(dst []byte) []byte
	tail() []byte
}

// appendCBOR appends fe's encoding.
func appendCBOR(dst []byte, fe fastEncoder) []byte {
	return appendData(fe.appendCBORHead(dst), fe.tail())
}

// fastDecoder is a body with its own decoder for the plain form. Request
// types' byte strings alias body (the daemon clears body after the
// request, and uses them only during it); response types copy them.
type fastDecoder interface {
	// decodeCBOR decodes body into the zero value it is called on and
	// reports whether it could; on false the value is reset.
	decodeCBOR(body []byte) bool
}

var (
	_ fastEncoder = (*AEADEncryptRequest)(nil)
	_ fastEncoder = (*AEADEncryptResponse)(nil)
	_ fastEncoder = (*AEADDecryptRequest)(nil)
	_ fastEncoder = (*AEADDecryptResponse)(nil)
	_ fastDecoder = (*AEADEncryptRequest)(nil)
	_ fastDecoder = (*AEADEncryptResponse)(nil)
	_ fastDecoder = (*AEADDecryptRequest)(nil)
	_ fastDecoder = (*AEADDecryptResponse)(nil)
)

// CBOR major types.
const (
	majUint  = 0
	majBytes = 2
	majText  = 3
	majMap   = 5
)

func headSize(n uint64) int {
	switch {
	case n < 24:
		return 1
	case n <= math.MaxUint8:
		return 2
	case n <= math.MaxUint16:
		return 3
	case n <= math.MaxUint32:
		return 5
	}
	return 9
}

func strSize(n int) int { return headSize(uint64(n)) + n }

func appendText(dst []byte, s string) []byte {
	return append(appendHead(dst, majText, uint64(len(s))), s...)
}

func appendBytes(dst, b []byte) []byte {
	return append(appendHead(dst, majBytes, uint64(len(b))), b...)
}

// appendData appends b, unless b already sits where it would go (see
// inplace.go): then the bytes are only taken into dst.
func appendData(dst, b []byte) []byte {
	if n := len(dst); len(b) > 0 && cap(dst)-n >= len(b) && &dst[n : n+1][0] == &b[0] {
		return dst[:n+len(b)]
	}
	return append(dst, b...)
}

// contextSize and appendContext encode a map[string]string as the general
// encoder does: keys sorted by their encoding (shorter first, then bytes).
func contextSize(m map[string]string) int {
	n := headSize(uint64(len(m)))
	for k, v := range m {
		n += strSize(len(k)) + strSize(len(v))
	}
	return n
}

func appendContext(dst []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(len(a), len(b)), cmp.Compare(a, b))
	})
	dst = appendHead(dst, majMap, uint64(len(m)))
	for _, k := range keys {
		dst = appendText(appendText(dst, k), m[k])
	}
	return dst
}

// Encoders. Keys are written in the general encoder's order: by length,
// then bytes ("pin" < "uid" < "alias" < "context" < "version" <
// "plaintext" < "ciphertext"); omitempty fields are left out when empty.

func (r *AEADEncryptRequest) cborSize() int {
	n := 1 + strSize(len("alias")) + strSize(len(r.Alias)) + strSize(len("plaintext")) + strSize(len(r.Plaintext))
	if len(r.PIN) > 0 {
		n += strSize(len("pin")) + strSize(len(r.PIN))
	}
	if len(r.Context) > 0 {
		n += strSize(len("context")) + contextSize(r.Context)
	}
	return n
}

func (r *AEADEncryptRequest) tail() []byte { return r.Plaintext }

func (r *AEADEncryptRequest) appendCBORHead(dst []byte) []byte {
	pairs := 2
	if len(r.PIN) > 0 {
		pairs++
	}
	if len(r.Context) > 0 {
		pairs++
	}
	dst = appendHead(dst, majMap, uint64(pairs))
	if len(r.PIN) > 0 {
		dst = appendBytes(appendText(dst, "pin"), r.PIN)
	}
	dst = appendText(appendText(dst, "alias"), r.Alias)
	if len(r.Context) > 0 {
		dst = appendContext(appendText(dst, "context"), r.Context)
	}
	return appendHead(appendText(dst, "plaintext"), majBytes, uint64(len(r.Plaintext)))
}

func (r *AEADEncryptResponse) cborSize() int {
	return 1 + strSize(len("version")) + headSize(uint64(r.Version)) + strSize(len("ciphertext")) + strSize(len(r.Ciphertext))
}

func (r *AEADEncryptResponse) tail() []byte { return r.Ciphertext }

func (r *AEADEncryptResponse) appendCBORHead(dst []byte) []byte {
	dst = appendHead(dst, majMap, 2)
	dst = appendHead(appendText(dst, "version"), majUint, uint64(r.Version))
	return appendHead(appendText(dst, "ciphertext"), majBytes, uint64(len(r.Ciphertext)))
}

func (r *AEADDecryptRequest) cborSize() int {
	n := 1 + strSize(len("ciphertext")) + strSize(len(r.Ciphertext))
	if len(r.PIN) > 0 {
		n += strSize(len("pin")) + strSize(len(r.PIN))
	}
	if r.UID != nil {
		n += strSize(len("uid")) + headSize(uint64(*r.UID))
	}
	if len(r.Context) > 0 {
		n += strSize(len("context")) + contextSize(r.Context)
	}
	return n
}

func (r *AEADDecryptRequest) tail() []byte { return r.Ciphertext }

func (r *AEADDecryptRequest) appendCBORHead(dst []byte) []byte {
	pairs := 1
	if len(r.PIN) > 0 {
		pairs++
	}
	if r.UID != nil {
		pairs++
	}
	if len(r.Context) > 0 {
		pairs++
	}
	dst = appendHead(dst, majMap, uint64(pairs))
	if len(r.PIN) > 0 {
		dst = appendBytes(appendText(dst, "pin"), r.PIN)
	}
	if r.UID != nil {
		dst = appendHead(appendText(dst, "uid"), majUint, uint64(*r.UID))
	}
	if len(r.Context) > 0 {
		dst = appendContext(appendText(dst, "context"), r.Context)
	}
	return appendHead(appendText(dst, "ciphertext"), majBytes, uint64(len(r.Ciphertext)))
}

func (r *AEADDecryptResponse) cborSize() int {
	return 1 + strSize(len("alias")) + strSize(len(r.Alias)) + strSize(len("version")) + headSize(uint64(r.Version)) +
		strSize(len("plaintext")) + strSize(len(r.Plaintext))
}

func (r *AEADDecryptResponse) tail() []byte { return r.Plaintext }

func (r *AEADDecryptResponse) appendCBORHead(dst []byte) []byte {
	dst = appendHead(dst, majMap, 3)
	dst = appendText(appendText(dst, "alias"), r.Alias)
	dst = appendHead(appendText(dst, "version"), majUint, uint64(r.Version))
	return appendHead(appendText(dst, "plaintext"), majBytes, uint64(len(r.Plaintext)))
}

// aliasDecoder is a response type whose decoder can leave its data in
// the body (DecodeBodyAliased).
type aliasDecoder interface {
	decodeCBORAliased(body []byte) bool
}

var (
	_ aliasDecoder = (*AEADEncryptResponse)(nil)
	_ aliasDecoder = (*AEADDecryptResponse)(nil)
)

// cborReader reads the plain form; any other form makes ok false.
type cborReader struct {
	b  []byte
	i  int
	ok bool
}

// head reads a definite-length head of major type major.
func (r *cborReader) head(major byte) uint64 {
	if !r.ok || r.i >= len(r.b) || r.b[r.i]>>5 != major {
		r.ok = false
		return 0
	}
	ai := r.b[r.i] & 0x1f
	r.i++
	if ai < 24 {
		return uint64(ai)
	}
	size := 0
	switch ai {
	case 24:
		size = 1
	case 25:
		size = 2
	case 26:
		size = 4
	case 27:
		size = 8
	default: // indefinite length, reserved
		r.ok = false
		return 0
	}
	if len(r.b)-r.i < size {
		r.ok = false
		return 0
	}
	var n uint64
	for _, c := range r.b[r.i : r.i+size] {
		n = n<<8 | uint64(c)
	}
	r.i += size
	return n
}

// raw reads a string of major type major and returns its bytes, which
// alias the body.
func (r *cborReader) raw(major byte) []byte {
	n := r.head(major)
	if !r.ok || n > uint64(len(r.b)-r.i) {
		r.ok = false
		return nil
	}
	s := r.b[r.i : r.i+int(n) : r.i+int(n)]
	r.i += int(n)
	return s
}

func (r *cborReader) text() string {
	s := r.raw(majText)
	if !r.ok || !utf8.Valid(s) {
		r.ok = false
		return ""
	}
	return string(s)
}

func (r *cborReader) uint32() uint32 {
	n := r.head(majUint)
	if n > math.MaxUint32 {
		r.ok = false
	}
	return uint32(n)
}

func (r *cborReader) context() map[string]string {
	n := r.head(majMap)
	if !r.ok || n > MaxMapPairs || n > uint64(len(r.b)-r.i) {
		r.ok = false
		return nil
	}
	m := make(map[string]string, int(n))
	for range n {
		k := r.text()
		v := r.text()
		if !r.ok {
			return nil
		}
		if _, dup := m[k]; dup {
			r.ok = false
			return nil
		}
		m[k] = v
	}
	return m
}

// fields reads the body map, calling field for each key (seen once at
// most); field reports false for a key it does not know.
func (r *cborReader) fields(field func(key []byte) bool) bool {
	n := r.head(majMap)
	if !r.ok || n > 8 {
		return false
	}
	for range n {
		k := r.raw(majText)
		if !r.ok || !field(k) {
			return false
		}
	}
	return r.ok && r.i == len(r.b)
}

// once marks bit in seen and reports whether it was clear.
func once(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

func (m *AEADEncryptRequest) decodeCBOR(body []byte) bool {
	r := cborReader{b: body, ok: true}
	var seen uint8
	ok := r.fields(func(k []byte) bool {
		switch string(k) {
		case "alias":
			m.Alias = r.text()
			return once(&seen, 1)
		case "plaintext":
			m.Plaintext = r.raw(majBytes)
			return once(&seen, 2)
		case "context":
			m.Context = r.context()
			return once(&seen, 4)
		case "pin":
			m.PIN = r.raw(majBytes)
			return once(&seen, 8)
		}
		return false
	})
	if !ok {
		*m = AEADEncryptRequest{}
	}
	return ok
}

func (m *AEADDecryptRequest) decodeCBOR(body []byte) bool {
	r := cborReader{b: body, ok: true}
	var seen uint8
	ok := r.fields(func(k []byte) bool {
		switch string(k) {
		case "ciphertext":
			m.Ciphertext = r.raw(majBytes)
			return once(&seen, 1)
		case "context":
			m.Context = r.context()
			return once(&seen, 2)
		case "pin":
			m.PIN = r.raw(majBytes)
			return once(&seen, 4)
		case "uid":
			uid := r.uint32()
			m.UID = &uid
			return once(&seen, 8)
		}
		return false
	})
	if !ok {
		*m = AEADDecryptRequest{}
	}
	return ok
}

func (m *AEADEncryptResponse) decodeCBOR(body []byte) bool { return m.decode(body, false) }

func (m *AEADEncryptResponse) decodeCBORAliased(body []byte) bool { return m.decode(body, true) }

func (m *AEADEncryptResponse) decode(body []byte, alias bool) bool {
	r := cborReader{b: body, ok: true}
	var seen uint8
	ok := r.fields(func(k []byte) bool {
		switch string(k) {
		case "ciphertext":
			m.Ciphertext = r.raw(majBytes)
			if !alias {
				m.Ciphertext = slices.Clone(m.Ciphertext)
			}
			return once(&seen, 1)
		case "version":
			m.Version = r.uint32()
			return once(&seen, 2)
		}
		return false
	})
	if !ok {
		*m = AEADEncryptResponse{}
	}
	return ok
}

func (m *AEADDecryptResponse) decodeCBOR(body []byte) bool { return m.decode(body, false) }

func (m *AEADDecryptResponse) decodeCBORAliased(body []byte) bool { return m.decode(body, true) }

func (m *AEADDecryptResponse) decode(body []byte, alias bool) bool {
	r := cborReader{b: body, ok: true}
	var seen uint8
	ok := r.fields(func(k []byte) bool {
		switch string(k) {
		case "plaintext":
			m.Plaintext = r.raw(majBytes)
			if !alias {
				m.Plaintext = slices.Clone(m.Plaintext)
			}
			return once(&seen, 1)
		case "alias":
			m.Alias = r.text()
			return once(&seen, 2)
		case "version":
			m.Version = r.uint32()
			return once(&seen, 4)
		}
		return false
	})
	if !ok {
		if !alias {
			clear(m.Plaintext) // a partial decode leaves no copy of a secret
		}
		*m = AEADDecryptResponse{}
	}
	return ok
}
