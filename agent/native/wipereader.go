package native

import (
	"bufio"
	"io"
)

// wipeReader is the connection's read buffer: bufio.Reader's Peek and
// Read, plus Wipe, which clears the bytes already consumed. A frame's
// bytes (a PIN, a secret to seal, a plaintext) pass through this buffer
// on their way into the frame's own slice; bufio.Reader would keep them
// until they happen to be overwritten.
type wipeReader struct {
	rd   io.Reader
	buf  []byte
	r, w int // buf[r:w] is buffered and unread
	err  error
}

func newWipeReader(rd io.Reader, size int) *wipeReader {
	return &wipeReader{rd: rd, buf: make([]byte, size)}
}

// fill reads once into the free end of the buffer, moving unread bytes to
// the front (and clearing what they leave behind) when they need room.
func (b *wipeReader) fill() {
	if b.r > 0 {
		n := copy(b.buf, b.buf[b.r:b.w])
		clear(b.buf[n:b.w])
		b.w -= b.r
		b.r = 0
	}
	n, err := b.rd.Read(b.buf[b.w:])
	b.w += n
	if err != nil {
		b.err = err
	}
}

// Peek returns the next n bytes without consuming them (n <= buffer size).
func (b *wipeReader) Peek(n int) ([]byte, error) {
	if n > len(b.buf) {
		return nil, bufio.ErrBufferFull
	}
	for b.w-b.r < n && b.err == nil {
		b.fill()
	}
	if b.w-b.r < n {
		err := b.err
		b.err = nil
		return b.buf[b.r:b.w], err
	}
	return b.buf[b.r : b.r+n], nil
}

// Read reads buffered bytes first, then straight from the connection
// when the buffer is empty and p is large.
func (b *wipeReader) Read(p []byte) (int, error) {
	if b.r == b.w {
		if b.err != nil {
			err := b.err
			b.err = nil
			return 0, err
		}
		if len(p) >= len(b.buf) {
			return b.rd.Read(p)
		}
		b.fill()
		if b.r == b.w {
			err := b.err
			b.err = nil
			return 0, err
		}
	}
	n := copy(p, b.buf[b.r:b.w])
	b.r += n
	return n, nil
}

// Wipe clears the bytes already consumed; unread ones stay.
func (b *wipeReader) Wipe() {
	clear(b.buf[:b.r])
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
}
