package protocol

import (
	"encoding/binary"
	"fmt"
)

const (
	// RequestHeaderSize is version u8, flags u8, opcode u16, request id u32.
	RequestHeaderSize = 8
	// ResponseHeaderSize is the request header's fields plus status u16.
	ResponseHeaderSize = 10
)

// RequestHeader starts every request frame.
type RequestHeader struct {
	Version uint8
	Op      Op
	ID      uint32
}

// ResponseHeader starts every response frame. Op and ID echo the request's.
type ResponseHeader struct {
	Version uint8
	Op      Op
	ID      uint32
	Status  Status
}

// ParseRequest splits a frame payload into header and CBOR body. The error,
// if any, is an *Error to answer with. Whenever the payload holds a whole
// header, the header is returned even with an error, so that the answer can
// echo its id: a version other than 1 gives UNSUPPORTED_VERSION, non-zero
// flags BAD_REQUEST, an opcode that is not a version-1 operation
// (reserved ones included) UNKNOWN_OP, and request id 0, which is reserved
// for frames the server sends unasked, BAD_REQUEST; in that order
// (docs/PROTOCOL.md §3.3). A payload shorter than the header
// gives BAD_REQUEST matching ErrShortFrame, with a zero header.
func ParseRequest(payload []byte) (RequestHeader, []byte, error) {
	if len(payload) < RequestHeaderSize {
		return RequestHeader{}, nil, shortFrame("request", len(payload), RequestHeaderSize)
	}
	h := RequestHeader{
		Version: payload[0],
		Op:      Op(binary.BigEndian.Uint16(payload[2:4])),
		ID:      binary.BigEndian.Uint32(payload[4:8]),
	}
	body := payload[RequestHeaderSize:]
	if err := checkVersionFlags(h.Version, payload[1]); err != nil {
		return h, body, err
	}
	if !h.Op.IsV1() {
		return h, body, Errorf(StatusUnknownOp, "unknown opcode %d", uint16(h.Op))
	}
	if h.ID == 0 {
		// Id 0 marks frames the server sends unasked; an answer to a
		// request with id 0 could be taken for one.
		return h, body, Errorf(StatusBadRequest, "request id 0 is reserved")
	}
	return h, body, nil
}

// ParseResponse splits a frame payload into header and CBOR body. The error,
// if any, is an *Error. Unknown opcodes and statuses are passed through: a
// server echoes whatever opcode it was sent.
func ParseResponse(payload []byte) (ResponseHeader, []byte, error) {
	if len(payload) < ResponseHeaderSize {
		return ResponseHeader{}, nil, shortFrame("response", len(payload), ResponseHeaderSize)
	}
	h := ResponseHeader{
		Version: payload[0],
		Op:      Op(binary.BigEndian.Uint16(payload[2:4])),
		ID:      binary.BigEndian.Uint32(payload[4:8]),
		Status:  Status(binary.BigEndian.Uint16(payload[8:10])),
	}
	body := payload[ResponseHeaderSize:]
	if err := checkVersionFlags(h.Version, payload[1]); err != nil {
		return h, body, err
	}
	return h, body, nil
}

func checkVersionFlags(version, flags uint8) error {
	if version != Version1 {
		return Errorf(StatusUnsupportedVersion, "header version %d not supported; this peer speaks version 1", version)
	}
	if flags != 0 {
		return Errorf(StatusBadRequest, "header flags 0x%02x: must be 0 in version 1", flags)
	}
	return nil
}

func shortFrame(kind string, got, want int) error {
	return &Error{
		Status:  StatusBadRequest,
		Message: fmt.Sprintf("%s frame of %d bytes is shorter than its %d-byte header", kind, got, want),
		cause:   ErrShortFrame,
	}
}

// appendRequestHeader appends a length-prefix placeholder and the header.
func appendRequestHeader(dst []byte, h RequestHeader) []byte {
	if h.Version == 0 {
		h.Version = Version1
	}
	dst = append(dst, 0, 0, 0, 0, h.Version, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Op))
	return binary.BigEndian.AppendUint32(dst, h.ID)
}

// appendResponseHeader appends a length-prefix placeholder and the header.
func appendResponseHeader(dst []byte, h ResponseHeader) []byte {
	if h.Version == 0 {
		h.Version = Version1
	}
	dst = append(dst, 0, 0, 0, 0, h.Version, 0)
	dst = binary.BigEndian.AppendUint16(dst, uint16(h.Op))
	dst = binary.BigEndian.AppendUint32(dst, h.ID)
	return binary.BigEndian.AppendUint16(dst, uint16(h.Status))
}
