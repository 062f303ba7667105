package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Decode limits (docs/PROTOCOL.md, "Limits"). Byte and text strings have no
// limit of their own: a string cannot be longer than the frame holding it,
// and the decoder checks each declared length against the bytes present
// before allocating.
const (
	MaxNestingDepth = 8    // nested arrays and maps, the body map counting as 1
	MaxArrayLength  = 4096 // elements in any one array
	MaxMapPairs     = 4096 // pairs in any one map
)

// codecModes holds the CBOR modes, built once and shared: both are safe for
// concurrent use.
type codecModes struct {
	enc cbor.UserBufferEncMode
	dec cbor.DecMode
}

var modes = sync.OnceValue(func() codecModes {
	encOpts := cbor.CoreDetEncOptions()
	encOpts.NilContainers = cbor.NilContainerAsEmpty
	encOpts.TagsMd = cbor.TagsForbidden
	enc, err := encOpts.UserBufferEncMode()
	if err != nil {
		panic("protocol: cbor EncMode: " + err.Error()) // constant options
	}
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:   MaxNestingDepth,
		MaxArrayElements:  MaxArrayLength,
		MaxMapPairs:       MaxMapPairs,
		IndefLength:       cbor.IndefLengthAllowed,
		TagsMd:            cbor.TagsForbidden,
		UTF8:              cbor.UTF8RejectInvalid,
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
	}.DecMode()
	if err != nil {
		panic("protocol: cbor DecMode: " + err.Error()) // constant options
	}
	return codecModes{enc: enc, dec: dec}
})

// Validator is implemented by every request type. DecodeBody calls it after
// decoding; clients may call it before sending. The error is an *Error with
// StatusBadRequest naming the field.
type Validator interface {
	Validate() error
}

// AppendRequest appends a complete frame (length prefix, header, CBOR body)
// to dst and returns the extended slice. A zero h.Version means Version1; a
// nil body is sent as an empty map. On error dst is returned unchanged in
// length.
func AppendRequest(dst []byte, h RequestHeader, body any) ([]byte, error) {
	start := len(dst)
	return finishFrame(appendRequestHeader(dst, h), start, body)
}

// AppendResponse appends a complete frame (length prefix, header, CBOR body)
// to dst and returns the extended slice. A zero h.Version means Version1; a
// nil body is sent as an empty map.
func AppendResponse(dst []byte, h ResponseHeader, body any) ([]byte, error) {
	start := len(dst)
	return finishFrame(appendResponseHeader(dst, h), start, body)
}

// AppendErrorResponse appends the answer to req carrying e: e's status in
// the header and an ErrorBody. A nil e or one with StatusOK is sent as
// INTERNAL, since an error answer must not read as success.
func AppendErrorResponse(dst []byte, req RequestHeader, e *Error) ([]byte, error) {
	if e == nil || e.Status == StatusOK {
		e = &Error{Status: StatusInternal, Message: "internal error"}
	}
	h := ResponseHeader{Version: Version1, Op: req.Op, ID: req.ID, Status: e.Status}
	return AppendResponse(dst, h, &ErrorBody{Message: e.Message})
}

func finishFrame(dst []byte, start int, body any) ([]byte, error) {
	if body == nil {
		dst = append(dst, 0xa0) // empty map
	} else if fe, ok := body.(fastEncoder); ok {
		dst = appendCBOR(slices.Grow(dst, fe.cborSize()), fe)
	} else {
		buf := bytes.NewBuffer(dst)
		if err := modes().enc.MarshalToBuffer(body, buf); err != nil {
			return dst[:start], fmt.Errorf("protocol: encode %T: %w", body, err)
		}
		dst = buf.Bytes()
	}
	n := len(dst) - start - LengthPrefixSize
	if uint64(n) > math.MaxUint32 {
		return dst[:start], fmt.Errorf("protocol: encode %T: %d bytes: %w", body, n, ErrFrameTooLarge)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, nil
}

// RequestFrameSize is the exact length of body's request frame (length
// prefix included) where it is known without encoding (the AEAD messages),
// else 0: a caller sizes a pooled buffer by it.
func RequestFrameSize(body any) int {
	if fe, ok := body.(fastEncoder); ok {
		return LengthPrefixSize + RequestHeaderSize + fe.cborSize()
	}
	return 0
}

// ResponseFrameSize is RequestFrameSize for a response body.
func ResponseFrameSize(body any) int {
	if fe, ok := body.(fastEncoder); ok {
		return LengthPrefixSize + ResponseHeaderSize + fe.cborSize()
	}
	return 0
}

// EncodedSize is the length of v's CBOR encoding, as AppendResponse would
// write it, so that a server can keep a response within its frame limit.
func EncodedSize(v any) (int, error) {
	if fe, ok := v.(fastEncoder); ok {
		return fe.cborSize(), nil
	}
	b, err := modes().enc.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("protocol: encode %T: %w", v, err)
	}
	return len(b), nil
}

// DecodeBody decodes a CBOR body into v (a pointer) with the decode limits,
// then calls v's Validate method if it has one. A zero-length body decodes
// as an empty map; keys of the body map that are not text strings are
// ignored, as unknown fields are. A failure is an *Error with StatusBadRequest whose
// message names the field where one is to blame.
func DecodeBody(body []byte, v any) error {
	if len(body) > 0 {
		if body[0]>>5 != 5 { // major type 5: map
			return Errorf(StatusBadRequest, "body is not a CBOR map (initial byte 0x%02x)", body[0])
		}
		if fd, ok := v.(fastDecoder); ok && fd.decodeCBOR(body) {
			goto validate
		}
		body, rebuilt := dropNonTextKeys(body)
		err := modes().dec.Unmarshal(body, v)
		if rebuilt {
			clear(body)
		}
		if err != nil {
			return decodeError(err)
		}
	}
validate:
	if val, ok := v.(Validator); ok {
		return val.Validate()
	}
	return nil
}

// aliasMinBody: DecodeBodyAliased leaves data in smaller bodies copied,
// so that a small frame buffer goes back to its pool.
const aliasMinBody = 64 << 10

// DecodeBodyAliased is DecodeBody for a response body of 64 KiB or more
// whose type lets its data stay in body (the AEAD responses): aliased
// reports that v's data is a slice of body, which then belongs to v and
// must not be reused or cleared. Otherwise it is DecodeBody, and aliased
// is false.
func DecodeBodyAliased(body []byte, v any) (aliased bool, err error) {
	if ad, ok := v.(aliasDecoder); ok && len(body) >= aliasMinBody && ad.decodeCBORAliased(body) {
		if val, ok := v.(Validator); ok {
			return true, val.Validate()
		}
		return true, nil
	}
	return false, DecodeBody(body, v)
}

// AppendRequestSplit is AppendRequest for a body whose encoding ends in a
// large byte string (the AEAD requests): it appends the frame without that
// string's data, which it returns as tail, to be written right after it,
// so that a megabyte plaintext goes to the socket from the caller's slice
// uncopied. For other bodies tail is nil and frame is whole.
func AppendRequestSplit(dst []byte, h RequestHeader, body any) (frame, tail []byte, err error) {
	fe, ok := body.(fastEncoder)
	if !ok {
		frame, err = AppendRequest(dst, h, body)
		return frame, nil, err
	}
	start := len(dst)
	dst = fe.appendCBORHead(appendRequestHeader(dst, h))
	tail = fe.tail()
	n := len(dst) - start - LengthPrefixSize + len(tail)
	if uint64(n) > math.MaxUint32 {
		return dst[:start], nil, fmt.Errorf("protocol: encode %T: %d bytes: %w", body, n, ErrFrameTooLarge)
	}
	binary.BigEndian.PutUint32(dst[start:], uint32(n))
	return dst, tail, nil
}

// DecodeRequest decodes and validates the body of a request for op. The
// result is a pointer to op's request type, such as *SignRequest. The error
// is an *Error: UNKNOWN_OP for an op outside version 1, else BAD_REQUEST.
func DecodeRequest(op Op, body []byte) (any, error) {
	req := NewRequest(op)
	if req == nil {
		return nil, Errorf(StatusUnknownOp, "unknown opcode %d", uint16(op))
	}
	if err := DecodeBody(body, req); err != nil {
		return nil, err
	}
	return req, nil
}

// DecodeResponse decodes a response body into v when h.Status is OK. For any
// other status it returns the *Error the server sent, decoding ErrorBody as
// well as it can (a broken error body still yields the status).
func DecodeResponse(h ResponseHeader, body []byte, v any) error {
	if h.Status != StatusOK {
		var eb ErrorBody
		_ = DecodeBody(body, &eb)
		return &Error{Status: h.Status, Message: eb.Message}
	}
	return DecodeBody(body, v)
}

// decodeError turns a cbor error into a BAD_REQUEST *Error for the peer.
func decodeError(err error) error {
	if te, ok := errors.AsType[*cbor.UnmarshalTypeError](err); ok && te.StructFieldName != "" {
		field := te.StructFieldName[strings.LastIndexByte(te.StructFieldName, '.')+1:]
		if strings.Contains(te.Error(), "overflows") {
			return Errorf(StatusBadRequest, "field %q: %s out of range for %s", field, te.CBORType, wireType(te.GoType))
		}
		return Errorf(StatusBadRequest, "field %q: wrong type: got %s, want %s", field, te.CBORType, wireType(te.GoType))
	}
	var (
		dup   *cbor.DupMapKeyError
		depth *cbor.MaxNestedLevelError
		arr   *cbor.MaxArrayElementsError
		pairs *cbor.MaxMapPairsError
	)
	switch {
	case errors.As(err, &dup):
		return Errorf(StatusBadRequest, "duplicate map key %v", dup.Key)
	case errors.As(err, &depth), errors.As(err, &arr), errors.As(err, &pairs):
		return Errorf(StatusBadRequest, "body exceeds a decode limit: %s", strings.TrimPrefix(err.Error(), "cbor: "))
	}
	return Errorf(StatusBadRequest, "invalid CBOR body: %s", strings.TrimPrefix(err.Error(), "cbor: "))
}

// wireType names, in CBOR terms, what a Go field type expects on the wire,
// so that messages make sense to clients written in other languages.
func wireType(goType string) string {
	switch {
	case goType == "string":
		return "text string"
	case goType == "[]uint8":
		return "byte string"
	case goType == "bool":
		return "boolean"
	case strings.HasPrefix(goType, "uint"):
		return "unsigned integer (" + goType + ")"
	case strings.HasPrefix(goType, "int"):
		return "integer (" + goType + ")"
	case strings.HasPrefix(goType, "[]"):
		return "array of " + wireType(goType[2:])
	}
	return "map"
}
