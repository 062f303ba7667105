package stream

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"io"
	"math"
)

// newGCM makes the AES-256-GCM of a derived segment key, and wipes the key
// (the cipher keeps its own expanded copy, which Go cannot wipe).
func newGCM(segKey []byte) (cipher.AEAD, error) {
	defer clear(segKey)
	block, err := aes.NewCipher(segKey)
	if err != nil {
		return nil, fmt.Errorf("stream: aes.NewCipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("stream: cipher.NewGCM: %w", err)
	}
	return aead, nil
}

// Writer encrypts a stream: it holds at most one segment of plaintext.
// Close writes the final segment; without it the stream is truncated and
// will not decrypt.
type Writer struct {
	dst   io.Writer
	h     *Header
	aead  cipher.AEAD
	aad   [digestSize]byte
	nonce [nonceSize]byte // in the struct: a local would escape through the AEAD interface
	buf   []byte          // plaintext of the open segment, then its ciphertext; cap SegmentSize+TagSize
	index uint64
	err   error // sticky: a failed write, or ErrClosed
}

// NewWriter writes a stream header to dst and returns a Writer for the
// plaintext. dataKey (32 bytes) and wrappedKey are GenerateDataKey's two
// results for encCtx; NewWriter does not keep dataKey, so the caller may
// wipe it as soon as NewWriter returns. segmentSize 0 is
// DefaultSegmentSize.
func NewWriter(dst io.Writer, dataKey, wrappedKey []byte, encCtx map[string]string, segmentSize int) (*Writer, error) {
	if segmentSize == 0 {
		segmentSize = DefaultSegmentSize
	}
	if segmentSize < MinSegmentSize || segmentSize > MaxSegmentSize {
		return nil, fmt.Errorf("stream.NewWriter: segment size %d outside %d..%d", segmentSize, MinSegmentSize, MaxSegmentSize)
	}
	if len(wrappedKey) == 0 || len(wrappedKey) > MaxWrappedKey {
		return nil, fmt.Errorf("stream.NewWriter: wrapped key of %d bytes, want 1..%d", len(wrappedKey), MaxWrappedKey)
	}
	h := &Header{SegmentSize: segmentSize, ContextDigest: ContextDigest(encCtx),
		WrappedKey: append([]byte(nil), wrappedKey...)}
	if _, err := rand.Read(h.Salt[:]); err != nil {
		return nil, fmt.Errorf("stream.NewWriter: %w", err)
	}
	if _, err := rand.Read(h.NoncePrefix[:]); err != nil {
		return nil, fmt.Errorf("stream.NewWriter: %w", err)
	}
	segKey, commitment, err := deriveKeys(dataKey, h.Salt[:])
	if err != nil {
		return nil, err
	}
	copy(h.Commitment[:], commitment)
	aead, err := newGCM(segKey)
	if err != nil {
		return nil, err
	}
	h.raw = h.marshal()
	if _, err := dst.Write(h.raw); err != nil {
		return nil, fmt.Errorf("stream: write header: %w", err)
	}
	return &Writer{dst: dst, h: h, aead: aead, aad: h.digest(),
		buf: make([]byte, 0, segmentSize+TagSize)}, nil
}

// Header returns the header the Writer wrote.
func (w *Writer) Header() *Header { return w.h }

// Write encrypts p. A segment is written once it is full and more
// plaintext follows, so the last full segment waits for Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		if len(w.buf) == w.h.SegmentSize {
			if err := w.flush(false); err != nil {
				return written, err
			}
		}
		n := copy(w.buf[len(w.buf):w.h.SegmentSize], p)
		w.buf = w.buf[:len(w.buf)+n]
		p = p[n:]
		written += n
	}
	return written, nil
}

// Close writes the final segment (possibly empty). It does not close dst.
func (w *Writer) Close() error {
	if w.err == ErrClosed {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	err := w.flush(true)
	clear(w.buf[:cap(w.buf)])
	if err == nil {
		w.err = ErrClosed
	}
	return err
}

func (w *Writer) flush(last bool) error {
	if w.index > math.MaxUint32 {
		w.err = ErrTooLong
		return w.err
	}
	w.h.nonce(&w.nonce, uint32(w.index), last)
	ct := w.aead.Seal(w.buf[:0], w.nonce[:], w.buf, w.aad[:])
	if _, err := w.dst.Write(ct); err != nil {
		w.err = fmt.Errorf("stream: write segment %d: %w", w.index, err)
		clear(w.buf[:cap(w.buf)])
		return w.err
	}
	w.index++
	w.buf = w.buf[:0]
	return nil
}

// checkCommitment compares a derived key commitment with the header's.
func (h *Header) checkCommitment(commitment []byte) error {
	if subtle.ConstantTimeCompare(commitment, h.Commitment[:]) != 1 {
		return ErrWrongKey
	}
	return nil
}
