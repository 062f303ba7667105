package stream

import (
	"bufio"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"math"
)

// Reader decrypts a stream. Each Read returns plaintext of a segment whose
// tag has verified; io.EOF comes only after the final segment verified
// and nothing followed it. It holds at most one segment.
type Reader struct {
	src   *bufio.Reader
	h     *Header
	aead  cipher.AEAD
	aad   [digestSize]byte
	nonce [nonceSize]byte // in the struct: a local would escape through the AEAD interface
	buf   []byte          // one segment's ciphertext
	pt    []byte          // its plaintext (not in place: a failed Open wipes its output)
	out   []byte          // plaintext not yet returned, within pt
	index uint64
	err   error // sticky: io.EOF after the final segment, or the failure
}

// NewReader returns a Reader of the segments that follow h in src (src is
// where ReadHeader left it). dataKey is the unwrapped h.WrappedKey;
// NewReader does not keep it, and returns ErrWrongKey if it does not match
// the header's key commitment.
func NewReader(src io.Reader, h *Header, dataKey []byte) (*Reader, error) {
	segKey, commitment, err := deriveKeys(dataKey, h.Salt[:])
	if err != nil {
		return nil, err
	}
	if err := h.checkCommitment(commitment); err != nil {
		clear(segKey)
		return nil, err
	}
	aead, err := newGCM(segKey)
	if err != nil {
		return nil, err
	}
	br, ok := src.(*bufio.Reader) // the caller's, which may hold bytes already read
	if !ok {
		br = bufio.NewReaderSize(src, 4096)
	}
	return &Reader{src: br, h: h, aead: aead, aad: h.digest(),
		buf: make([]byte, h.SegmentSize+TagSize), pt: make([]byte, h.SegmentSize)}, nil
}

// Read returns verified plaintext.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			clear(r.pt) // all of it was returned
			return 0, r.err
		}
		r.next()
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// WriteTo writes the verified plaintext to w, one segment at a time. The
// Reader wipes its plaintext buffer once the stream ended or failed.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.out) > 0 {
			n, err := w.Write(r.out)
			total += int64(n)
			r.out = r.out[n:]
			if err != nil {
				return total, err
			}
		}
		if r.err != nil {
			clear(r.pt)
			if r.err == io.EOF {
				return total, nil
			}
			return total, r.err
		}
		r.next()
	}
}

// next reads and opens one segment into r.out, or sets r.err.
func (r *Reader) next() {
	if r.index > math.MaxUint32 {
		r.fail(ErrTooLong)
		return
	}
	n, err := io.ReadFull(r.src, r.buf)
	last := false
	switch {
	case err == io.EOF:
		r.fail(ErrTruncated) // the previous segment was not the final one
		return
	case err == io.ErrUnexpectedEOF:
		last = true
	case err != nil:
		r.fail(fmt.Errorf("stream: read segment %d: %w", r.index, err))
		return
	default:
		if _, perr := r.src.Peek(1); perr == io.EOF {
			last = true
		} else if perr != nil {
			r.fail(fmt.Errorf("stream: read segment %d: %w", r.index+1, perr))
			return
		}
	}
	if n < TagSize {
		r.fail(ErrTruncated)
		return
	}
	pt, err := r.open(r.buf[:n], last)
	if err != nil {
		r.fail(err)
		return
	}
	r.out = pt
	r.index++
	if last {
		r.err = io.EOF
	}
}

// open authenticates one segment. When it fails, the other value of the
// last flag tells a cut stream or an appended one from a corrupt segment.
func (r *Reader) open(seg []byte, last bool) ([]byte, error) {
	r.h.nonce(&r.nonce, uint32(r.index), last)
	pt, err := r.aead.Open(r.pt[:0], r.nonce[:], seg, r.aad[:])
	if err == nil {
		return pt, nil
	}
	r.h.nonce(&r.nonce, uint32(r.index), !last)
	if _, err := r.aead.Open(r.pt[:0], r.nonce[:], seg, r.aad[:]); err == nil {
		clear(r.pt)
		if last {
			return nil, ErrTruncated
		}
		return nil, ErrTrailingData
	}
	return nil, fmt.Errorf("%w (segment %d)", ErrAuthFailed, r.index)
}

func (r *Reader) fail(err error) {
	r.err = err
	r.out = nil
	clear(r.pt)
}

// Err is the failure that ended the stream, or nil (also after a clean
// end).
func (r *Reader) Err() error {
	if errors.Is(r.err, io.EOF) {
		return nil
	}
	return r.err
}
