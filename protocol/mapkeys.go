package protocol

import "encoding/binary"

// dropNonTextKeys returns body without the pairs of its top-level map whose
// key is not a text string, so that such keys are ignored whatever their
// type (docs/PROTOCOL.md §4.1), as unknown text keys are. The CBOR library
// would ignore integer keys but refuse byte-string, array, map, bool and
// null keys. A body without such keys is returned as it is, with no
// allocation; a body that is not well-formed is returned as it is too, for
// the decoder to refuse, and so is one holding a tag. A rebuilt body is a copy the caller must clear
// once decoded (it may hold a PIN).
func dropNonTextKeys(body []byte) (out []byte, rebuilt bool) {
	if len(body) == 0 || body[0]>>5 != 5 {
		return body, false
	}
	if !hasNonTextKey(body) {
		return body, false
	}
	count, indefinite, off, _ := itemHead(body, 0)
	out = make([]byte, 0, len(body))
	var pairs []byte
	kept := uint64(0)
	for i := uint64(0); indefinite || i < count; i++ {
		if indefinite && body[off] == 0xff {
			off++ // the break byte
			break
		}
		start := off
		isText := body[off]>>5 == 3
		off, _ = skipItem(body, off, 0)
		off, _ = skipItem(body, off, 0)
		if isText {
			pairs = append(pairs, body[start:off]...)
			kept++
		}
	}
	out = appendHead(out, 5, kept)
	out = append(out, pairs...)
	clear(pairs)
	return append(out, body[off:]...), true // trailing bytes stay, for the decoder to refuse
}

// hasNonTextKey reports whether body, a well-formed map, has a key that is
// not a text string; it allocates nothing.
func hasNonTextKey(body []byte) bool {
	count, indefinite, off, ok := itemHead(body, 0)
	if !ok {
		return false
	}
	found := false
	for i := uint64(0); indefinite || i < count; i++ {
		if off >= len(body) {
			return false
		}
		if indefinite && body[off] == 0xff {
			break
		}
		found = found || body[off]>>5 != 3
		if off, ok = skipItem(body, off, 0); !ok {
			return false
		}
		if off, ok = skipItem(body, off, 0); !ok {
			return false
		}
	}
	return found
}

// itemHead reads the head of the item at off: its argument (a length or a
// value), whether its length is indefinite, and where its content starts.
func itemHead(b []byte, off int) (arg uint64, indefinite bool, next int, ok bool) {
	if off >= len(b) {
		return 0, false, 0, false
	}
	ai := b[off] & 0x1f
	off++
	switch {
	case ai < 24:
		return uint64(ai), false, off, true
	case ai == 31:
		return 0, true, off, true
	case ai > 27:
		return 0, false, 0, false
	}
	n := 1 << (ai - 24) // 1, 2, 4 or 8 bytes
	if len(b)-off < n {
		return 0, false, 0, false
	}
	var v uint64
	for _, c := range b[off : off+n] {
		v = v<<8 | uint64(c)
	}
	return v, false, off + n, true
}

// skipItem returns the offset just past the item at off. depth bounds the
// recursion, as the decoder bounds nesting.
func skipItem(b []byte, off, depth int) (int, bool) {
	if depth > MaxNestingDepth || off >= len(b) {
		return 0, false
	}
	major := b[off] >> 5
	arg, indefinite, off, ok := itemHead(b, off)
	if !ok {
		return 0, false
	}
	if indefinite {
		if major < 2 || major > 5 {
			return 0, false
		}
		for {
			if off >= len(b) {
				return 0, false
			}
			if b[off] == 0xff {
				return off + 1, true
			}
			if off, ok = skipItem(b, off, depth+1); !ok {
				return 0, false
			}
		}
	}
	switch major {
	case 2, 3:
		if arg > uint64(len(b)-off) {
			return 0, false
		}
		return off + int(arg), true
	case 4, 5:
		n := arg
		if major == 5 {
			n *= 2
		}
		if arg > uint64(len(b)-off) { // every item takes at least a byte
			return 0, false
		}
		for range n {
			if off, ok = skipItem(b, off, depth+1); !ok {
				return 0, false
			}
		}
		return off, true
	case 6:
		return 0, false // tags are refused anywhere: leave them to the decoder
	}
	return off, true // 0, 1, 7: the head is the whole item
}

// appendHead appends a definite-length head in its shortest form.
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), n)
}
