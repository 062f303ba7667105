package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
)

const (
	// Version1 is the only protocol version this package speaks.
	Version1 = 1
	// DefaultMaxFrameSize is the default limit on a frame's declared length
	// (the bytes after the length prefix).
	DefaultMaxFrameSize = 1 << 20
	// LengthPrefixSize is the size of the u32 big-endian length prefix.
	LengthPrefixSize = 4

	// firstChunk is the most ReadFrame allocates before the peer has sent
	// any payload; the buffer then doubles as bytes arrive, so a peer can
	// make us hold at most about twice what it actually sent.
	firstChunk = 64 << 10
)

// ReadFrame reads one length-prefixed frame and returns its payload (without
// the prefix). The declared length is checked before anything is allocated:
// 0 gives an error matching ErrEmptyFrame, more than maxSize one matching
// ErrFrameTooLarge; both wrap an *Error to send the peer before closing. A
// maxSize of 0 means DefaultMaxFrameSize. A clean end of stream before a
// frame gives an error matching io.EOF; a frame cut short,
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, maxSize uint32) ([]byte, error) {
	if maxSize == 0 {
		maxSize = DefaultMaxFrameSize
	}
	var prefix [LengthPrefixSize]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, fmt.Errorf("protocol.ReadFrame: length prefix: %w", err)
	}
	n := binary.BigEndian.Uint32(prefix[:])
	if n == 0 {
		return nil, fmt.Errorf("protocol.ReadFrame: %w",
			&Error{Status: StatusBadRequest, Message: "zero-length frame", cause: ErrEmptyFrame})
	}
	if n > maxSize {
		return nil, fmt.Errorf("protocol.ReadFrame: %w",
			Errorf(StatusFrameTooLarge, "frame length %d exceeds the limit %d", n, maxSize))
	}
	return readPayload(r, int(n))
}

// readPayload reads exactly n bytes, growing its buffer only as data
// arrives; no single allocation exceeds n.
func readPayload(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, min(n, firstChunk))
	got := 0
	for {
		m, err := io.ReadFull(r, buf[got:])
		got += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("protocol.ReadFrame: payload (%d of %d bytes): %w", got, n, err)
		}
		if got == n {
			return buf, nil
		}
		grown := make([]byte, min(n, 2*len(buf)))
		copy(grown, buf)
		buf = grown
	}
}

// WriteFrame writes payload with its u32 big-endian length prefix, in one
// writev where w is a network connection. Callers sharing w must serialise
// their calls.
func WriteFrame(w io.Writer, payload []byte) error {
	if len(payload) == 0 {
		return fmt.Errorf("protocol.WriteFrame: %w", ErrEmptyFrame)
	}
	if uint64(len(payload)) > math.MaxUint32 {
		return fmt.Errorf("protocol.WriteFrame: %d bytes: %w", len(payload), ErrFrameTooLarge)
	}
	var prefix [LengthPrefixSize]byte
	binary.BigEndian.PutUint32(prefix[:], uint32(len(payload)))
	bufs := net.Buffers{prefix[:], payload}
	if _, err := bufs.WriteTo(w); err != nil {
		return fmt.Errorf("protocol.WriteFrame: %w", err)
	}
	return nil
}

// ReadFrameBuffer is ReadFrame into a buffer of pool, for a caller that
// reads many frames: no frame costs a fresh allocation. When the declared
// length is at most reserved (memory the caller has already accounted
// for, as the daemon's budget does) the whole buffer is taken at once;
// else it grows as data arrives, as ReadFrame's does, each outgrown buffer
// cleared and returned. The payload is (*bp)[:n]; the caller gives the
// buffer back with pool.Put (or PutClean once it has cleared it).
func ReadFrameBuffer(r io.Reader, maxSize uint32, pool *BufferPool, reserved int) (*[]byte, error) {
	if maxSize == 0 {
		maxSize = DefaultMaxFrameSize
	}
	var prefix [LengthPrefixSize]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, fmt.Errorf("protocol.ReadFrame: length prefix: %w", err)
	}
	n := int(binary.BigEndian.Uint32(prefix[:]))
	if n == 0 {
		return nil, fmt.Errorf("protocol.ReadFrame: %w",
			&Error{Status: StatusBadRequest, Message: "zero-length frame", cause: ErrEmptyFrame})
	}
	if uint32(n) > maxSize {
		return nil, fmt.Errorf("protocol.ReadFrame: %w",
			Errorf(StatusFrameTooLarge, "frame length %d exceeds the limit %d", n, maxSize))
	}
	first := n
	if n > reserved {
		first = min(n, firstChunk)
	}
	bp := pool.Get(first)
	got := 0
	for {
		m, err := io.ReadFull(r, (*bp)[got:])
		got += m
		if err != nil {
			pool.Put(bp)
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("protocol.ReadFrame: payload (%d of %d bytes): %w", got, n, err)
		}
		if got == n {
			return bp, nil
		}
		grown := pool.Get(min(n, 2*len(*bp)))
		copy(*grown, *bp)
		pool.Put(bp)
		bp = grown
	}
}
