package rpc

import (
	"encoding/binary"
	"fmt"
	"io"
)

// HeaderSize is the size of a frame header: the reply code, the length of
// the options block and the length of the message, each a big-endian
// uint32 (rpc-transport.c).
const HeaderSize = 12

// MaxOptionsSize bounds the options block. p11-kit-client.so sends the
// module name there; nobody needs more than this.
const MaxOptionsSize = 4096

// Version is the highest protocol version this codec speaks. Version 0 is
// what p11-kit 0.24.1 (Debian 12) speaks; newer clients offer a higher
// version and accept the server's lower answer, then use the version 0
// calls (C_InitToken, C_DeriveKey), which are the only ones that differ.
const Version = 0

// FrameHeader is the header of one frame in either direction. Code pairs
// a response with its request: a server answers with the request's code.
type FrameHeader struct {
	Code       uint32
	OptionsLen uint32
	DataLen    uint32
}

// ReadFrameHeader reads a frame header and checks it against maxData:
// a zero code, an empty message, options over MaxOptionsSize or a message
// over maxData are refused before anything is allocated.
func ReadFrameHeader(r io.Reader, maxData uint32) (FrameHeader, error) {
	var b [HeaderSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return FrameHeader{}, err
	}
	h := FrameHeader{
		Code:       binary.BigEndian.Uint32(b[0:]),
		OptionsLen: binary.BigEndian.Uint32(b[4:]),
		DataLen:    binary.BigEndian.Uint32(b[8:]),
	}
	return h, h.Check(maxData)
}

// Check reports whether the header may be read on.
func (h FrameHeader) Check(maxData uint32) error {
	switch {
	case h.Code == 0:
		return fmt.Errorf("frame header: reply code 0: %w", ErrMalformed)
	case h.DataLen == 0:
		return fmt.Errorf("frame header: empty message: %w", ErrMalformed)
	case h.OptionsLen > MaxOptionsSize:
		return fmt.Errorf("frame header: options of %d bytes (limit %d): %w", h.OptionsLen, MaxOptionsSize, ErrTooLarge)
	case h.DataLen > maxData:
		return fmt.Errorf("frame header: message of %d bytes (limit %d): %w", h.DataLen, maxData, ErrTooLarge)
	}
	return nil
}

// ReadFrameBody reads the options and the message of a checked header.
// The options are read and dropped.
func ReadFrameBody(r io.Reader, h FrameHeader) ([]byte, error) {
	if h.OptionsLen > 0 {
		if _, err := io.CopyN(io.Discard, r, int64(h.OptionsLen)); err != nil {
			return nil, fmt.Errorf("frame options: %w", noEOF(err))
		}
	}
	data := make([]byte, h.DataLen)
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("frame message: %w", noEOF(err))
	}
	return data, nil
}

// PutFrameHeader fills in the header of frame, whose first HeaderSize
// bytes were left for it and whose rest is the message (no options): a
// response is built in place and written with one call.
func PutFrameHeader(frame []byte, code uint32) {
	binary.BigEndian.PutUint32(frame[0:], code)
	binary.BigEndian.PutUint32(frame[4:], 0)
	binary.BigEndian.PutUint32(frame[8:], uint32(len(frame)-HeaderSize))
}

// AppendFrame appends a frame with code and message msg (no options).
func AppendFrame(dst []byte, code uint32, msg []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, code)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// Negotiate is the server's side of the version byte: it reads the
// client's version and answers the lower of it and Version, which it
// returns.
func Negotiate(rw io.ReadWriter) (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(rw, b[:]); err != nil {
		return 0, fmt.Errorf("version byte: %w", err)
	}
	v := min(b[0], Version)
	if _, err := rw.Write([]byte{v}); err != nil {
		return 0, fmt.Errorf("version byte: %w", err)
	}
	return v, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
