package protocol

// CONTRACT STUB — the codec surface agent/ and client/ build against.
// The protocol/ implementer replaces these bodies (and may split this file)
// but keeps these names and signatures. Delete this comment when done.

import (
	"errors"
	"io"
)

const (
	Version1            = 1
	DefaultMaxFrameSize = 1 << 20
)

// RequestHeader starts every request frame.
type RequestHeader struct {
	Version uint8
	Op      Op
	ID      uint32
}

// ResponseHeader starts every response frame.
type ResponseHeader struct {
	Version uint8
	Op      Op
	ID      uint32
	Status  Status
}

// Codec-level sentinels (errors.go).
var (
	ErrFrameTooLarge = errors.New("protocol: frame too large")
	ErrEmptyFrame    = errors.New("protocol: zero-length frame")
	ErrShortFrame    = errors.New("protocol: frame shorter than its header")
)

// Error is a non-OK status with its message for a person. errors.Is(err,
// protocol.ErrKeyNotFound) etc. match by status (one sentinel per status).
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { panic("stub") }

// ReadFrame reads one length-prefixed frame, checking the length against
// max before allocating. It returns the frame payload (without the prefix).
func ReadFrame(r io.Reader, max uint32) ([]byte, error) { panic("stub") }

// WriteFrame writes payload with its u32 big-endian length prefix.
func WriteFrame(w io.Writer, payload []byte) error { panic("stub") }

// ParseRequest splits a frame payload into header and CBOR body.
func ParseRequest(payload []byte) (RequestHeader, []byte, error) { panic("stub") }

// ParseResponse splits a frame payload into header and CBOR body.
func ParseResponse(payload []byte) (ResponseHeader, []byte, error) { panic("stub") }

// AppendRequest appends a complete frame (length prefix, header, CBOR body).
func AppendRequest(dst []byte, h RequestHeader, body any) ([]byte, error) { panic("stub") }

// AppendResponse appends a complete frame (length prefix, header, CBOR body).
func AppendResponse(dst []byte, h ResponseHeader, body any) ([]byte, error) { panic("stub") }

// DecodeBody decodes a CBOR body into v with the decode limits; a failure is
// an *Error with StatusBadRequest whose message names the field.
func DecodeBody(body []byte, v any) error { panic("stub") }

// NewRequest returns a pointer to a zero request struct for op, or nil if op
// is not a version-1 operation. NewResponse likewise.
func NewRequest(op Op) any  { panic("stub") }
func NewResponse(op Op) any { panic("stub") }

// Errorf builds an *Error.
func Errorf(s Status, format string, args ...any) *Error { panic("stub") }

// StatusOf maps an error to its status: *Error gives its own, anything else
// StatusInternal.
func StatusOf(err error) Status { panic("stub") }

func (s Status) String() string { panic("stub") } // "KEY_NOT_FOUND"
func (o Op) String() string     { panic("stub") } // "Sign"
