package stream

import (
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
)

// Format constants (docs/FORMATS.md, "Stream envelope").
const (
	// Magic opens every stream.
	Magic = "TPMKSTR"
	// Version is the format version this package writes and reads.
	Version = 1
	// DefaultSegmentSize is the plaintext bytes per segment NewWriter uses
	// when asked for 0.
	DefaultSegmentSize = 64 << 10
	// MinSegmentSize and MaxSegmentSize bound the segment size a header may
	// name; the upper bound is what a Reader may have to hold in memory.
	MinSegmentSize = 1 << 10
	MaxSegmentSize = 4 << 20
	// MaxWrappedKey bounds the wrapped data key in a header.
	MaxWrappedKey = 4096
	// TagSize is the GCM tag that ends every segment.
	TagSize = 16
	// DataKeySize is the data key length a stream uses.
	DataKeySize = 32
	// FixedHeaderSize is the header up to the wrapped key, whose length
	// is its last four bytes.
	FixedHeaderSize = fixedHeaderSize

	saltSize   = 32
	prefixSize = 7
	digestSize = sha256.Size
	// fixedHeaderSize is the header without its wrapped key.
	fixedHeaderSize = len(Magic) + 1 + 4 + saltSize + prefixSize + digestSize + digestSize + 4
	nonceSize       = prefixSize + 4 + 1

	infoSegmentKey = "tpmkeyd stream v1 segment key"
	infoCommitment = "tpmkeyd stream v1 key commitment"
)

// Header is a parsed stream header.
type Header struct {
	SegmentSize   int
	Salt          [saltSize]byte
	NoncePrefix   [prefixSize]byte
	ContextDigest [digestSize]byte
	Commitment    [digestSize]byte
	// WrappedKey is the data key as the daemon's AEAD ciphertext, which
	// names the key (and version) that wrapped it.
	WrappedKey []byte

	raw []byte // the header's bytes, as read or written
}

// Size is the header's length in bytes.
func (h *Header) Size() int { return len(h.raw) }

// digest is SHA-256 of the header bytes, the associated data of every
// segment.
func (h *Header) digest() [digestSize]byte { return sha256.Sum256(h.raw) }

func (h *Header) marshal() []byte {
	b := make([]byte, 0, fixedHeaderSize+len(h.WrappedKey))
	b = append(b, Magic...)
	b = append(b, Version)
	b = binary.BigEndian.AppendUint32(b, uint32(h.SegmentSize))
	b = append(b, h.Salt[:]...)
	b = append(b, h.NoncePrefix[:]...)
	b = append(b, h.ContextDigest[:]...)
	b = append(b, h.Commitment[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(h.WrappedKey)))
	return append(b, h.WrappedKey...)
}

// ReadHeader reads exactly one header from r and checks its fields' ranges.
// It reads nothing past the header.
func ReadHeader(r io.Reader) (*Header, error) {
	fixed := make([]byte, fixedHeaderSize)
	if _, err := io.ReadFull(r, fixed[:len(Magic)+1]); err != nil {
		return nil, headerReadErr(err)
	}
	if string(fixed[:len(Magic)]) != Magic {
		return nil, ErrNotStream
	}
	if v := fixed[len(Magic)]; v != Version {
		return nil, fmt.Errorf("%w: %d (this reader knows %d)", ErrUnsupportedVersion, v, Version)
	}
	if _, err := io.ReadFull(r, fixed[len(Magic)+1:]); err != nil {
		return nil, headerReadErr(err)
	}
	h := &Header{}
	p := fixed[len(Magic)+1:]
	h.SegmentSize = int(binary.BigEndian.Uint32(p))
	p = p[4:]
	p = p[copy(h.Salt[:], p):]
	p = p[copy(h.NoncePrefix[:], p):]
	p = p[copy(h.ContextDigest[:], p):]
	p = p[copy(h.Commitment[:], p):]
	n := binary.BigEndian.Uint32(p)
	if h.SegmentSize < MinSegmentSize || h.SegmentSize > MaxSegmentSize {
		return nil, fmt.Errorf("%w: segment size %d outside %d..%d", ErrBadHeader, h.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	if n == 0 || n > MaxWrappedKey {
		return nil, fmt.Errorf("%w: wrapped key length %d outside 1..%d", ErrBadHeader, n, MaxWrappedKey)
	}
	h.raw = slices.Grow(fixed, int(n))[:fixedHeaderSize+int(n)]
	if _, err := io.ReadFull(r, h.raw[fixedHeaderSize:]); err != nil {
		return nil, headerReadErr(err)
	}
	h.WrappedKey = h.raw[fixedHeaderSize:]
	return h, nil
}

func headerReadErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: cut short", ErrBadHeader)
	}
	return fmt.Errorf("stream: read header: %w", err)
}

// CheckContext reports ErrContextMismatch unless encCtx is the encryption
// context the stream was made with. The context is not secret (the header
// carries its digest), so the check may run before the key is unwrapped.
func (h *Header) CheckContext(encCtx map[string]string) error {
	d := ContextDigest(encCtx)
	if subtle.ConstantTimeCompare(d[:], h.ContextDigest[:]) != 1 {
		return ErrContextMismatch
	}
	return nil
}

// ContextDigest is SHA-256 over the canonical encoding of an encryption
// context: the pair count as u32, then each pair in ascending byte order
// of keys as u32 key length, key, u32 value length, value (big-endian).
func ContextDigest(encCtx map[string]string) [digestSize]byte {
	keys := make([]string, 0, len(encCtx))
	for k := range encCtx {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(keys)))
	h.Write(n[:])
	for _, k := range keys {
		for _, s := range []string{k, encCtx[k]} {
			binary.BigEndian.PutUint32(n[:], uint32(len(s)))
			h.Write(n[:])
			io.WriteString(h, s)
		}
	}
	var d [digestSize]byte
	h.Sum(d[:0])
	return d
}

// deriveKeys returns the segment key and the key commitment of a data key
// and a header salt: HKDF-SHA256 with the salt, two infos.
func deriveKeys(dataKey []byte, salt []byte) (segKey, commitment []byte, err error) {
	if len(dataKey) != DataKeySize {
		return nil, nil, fmt.Errorf("stream: data key of %d bytes, want %d", len(dataKey), DataKeySize)
	}
	segKey, err = hkdf.Key(sha256.New, dataKey, salt, infoSegmentKey, 32)
	if err != nil {
		return nil, nil, fmt.Errorf("stream: hkdf: %w", err)
	}
	commitment, err = hkdf.Key(sha256.New, dataKey, salt, infoCommitment, digestSize)
	if err != nil {
		clear(segKey)
		return nil, nil, fmt.Errorf("stream: hkdf: %w", err)
	}
	return segKey, commitment, nil
}

// nonce builds a segment's nonce: prefix || index (u32) || last flag.
func (h *Header) nonce(dst *[nonceSize]byte, index uint32, last bool) {
	copy(dst[:], h.NoncePrefix[:])
	binary.BigEndian.PutUint32(dst[prefixSize:], index)
	dst[nonceSize-1] = 0
	if last {
		dst[nonceSize-1] = 1
	}
}
