package stream

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol/aeadfmt"
)

const seg = MinSegmentSize // small segments keep the tests fast

var testCtx = map[string]string{"app": "billing", "tenant": "42"}

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, DataKeySize)
	rand.Read(k)
	return k
}

// encrypt makes a stream of pt; the wrapped key is a stand-in, as this
// package never unwraps it.
func encrypt(t *testing.T, key, pt []byte, encCtx map[string]string, segSize int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, key, []byte("wrapped-key-stand-in"), encCtx, segSize)
	if err != nil {
		t.Fatalf("NewWriter = %v", err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatalf("Write = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	return out.Bytes()
}

// decrypt reads a whole stream with Read (or WriteTo).
func decrypt(ct, key []byte, encCtx map[string]string, writeTo bool) ([]byte, error) {
	src := bytes.NewReader(ct)
	h, err := ReadHeader(src)
	if err != nil {
		return nil, err
	}
	if err := h.CheckContext(encCtx); err != nil {
		return nil, err
	}
	r, err := NewReader(src, h, key)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if writeTo {
		_, err = r.WriteTo(&out)
	} else {
		_, err = io.CopyBuffer(struct{ io.Writer }{&out}, struct{ io.Reader }{r}, make([]byte, 300))
	}
	return out.Bytes(), err
}

func TestRoundTrip(t *testing.T) {
	key := newKey(t)
	sizes := []struct {
		name string
		n    int
		seg  int
	}{
		{"empty", 0, seg}, {"one-byte", 1, seg}, {"one-segment-less-one", seg - 1, seg},
		{"exactly-one-segment", seg, seg}, {"segment-plus-one", seg + 1, seg},
		{"two-segments", 2 * seg, seg}, {"several-mib-default-segments", 3<<20 + 17, 0},
	}
	for _, tc := range sizes {
		t.Run(tc.name, func(t *testing.T) {
			pt := make([]byte, tc.n)
			rand.Read(pt)
			ct := encrypt(t, key, pt, testCtx, tc.seg)
			segSize := tc.seg
			if segSize == 0 {
				segSize = DefaultSegmentSize
			}
			segments := max(1, (tc.n+segSize-1)/segSize)
			if want := fixedHeaderSize + 20 + tc.n + segments*TagSize; len(ct) != want {
				t.Errorf("len(Encrypt(%d bytes)) = %d, want %d", tc.n, len(ct), want)
			}
			for _, writeTo := range []bool{false, true} {
				got, err := decrypt(ct, key, testCtx, writeTo)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("Decrypt(Encrypt(%d bytes), writeTo=%v) = %d bytes, %v; want the plaintext", tc.n, writeTo, len(got), err)
				}
			}
		})
	}
}

// TestWriteInPieces feeds the writer odd-sized writes.
func TestWriteInPieces(t *testing.T) {
	key := newKey(t)
	pt := make([]byte, 5*seg+3)
	rand.Read(pt)
	var out bytes.Buffer
	w, err := NewWriter(&out, key, []byte("w"), nil, seg)
	if err != nil {
		t.Fatal(err)
	}
	for p := pt; len(p) > 0; {
		n := min(len(p), 333)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	got, err := decrypt(out.Bytes(), key, map[string]string{}, false)
	if err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Decrypt = %d bytes, %v; want the plaintext", len(got), err)
	}
}

// segments splits a stream made with seg-sized segments.
func segments(ct []byte) (hdr []byte, segs [][]byte) {
	h, _ := ReadHeader(bytes.NewReader(ct))
	hdr, rest := ct[:h.Size()], ct[h.Size():]
	for len(rest) > 0 {
		n := min(len(rest), h.SegmentSize+TagSize)
		segs = append(segs, rest[:n])
		rest = rest[n:]
	}
	return hdr, segs
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestTampering(t *testing.T) {
	key := newKey(t)
	pt := make([]byte, 3*seg+100)
	rand.Read(pt)
	ct := encrypt(t, key, pt, testCtx, seg)
	hdr, s := segments(ct)
	full := make([]byte, 2*seg) // ends on a full final segment
	rand.Read(full)
	fhdr, fs := segments(encrypt(t, key, full, testCtx, seg))
	other := encrypt(t, key, pt, testCtx, seg) // same key, another stream
	_, os := segments(other)

	tests := []struct {
		name string
		ct   []byte
		want error
	}{
		{"drop-final", join(hdr, s[0], s[1], s[2]), ErrTruncated},
		{"drop-final-full", join(fhdr, fs[0]), ErrTruncated},
		{"header-only", hdr, ErrTruncated},
		{"cut-mid-segment", ct[:len(ct)-seg/2-TagSize], ErrAuthFailed},
		{"cut-in-tag", ct[:len(ct)-1], ErrAuthFailed},
		{"final-cut-below-tag", join(hdr, s[0], s[1], s[2], s[3][:TagSize-1]), ErrTruncated},
		{"reorder", join(hdr, s[1], s[0], s[2], s[3]), ErrAuthFailed},
		{"duplicate", join(hdr, s[0], s[0], s[1], s[2], s[3]), ErrAuthFailed},
		{"drop-middle", join(hdr, s[0], s[2], s[3]), ErrAuthFailed},
		{"splice-other-stream", join(hdr, s[0], os[1], s[2], s[3]), ErrAuthFailed},
		{"append-after-short-final", join(ct, []byte("more")), ErrAuthFailed},
		{"append-segment-after-full-final", join(fhdr, fs[0], fs[1], fs[1]), ErrTrailingData},
		{"append-byte-after-full-final", join(fhdr, fs[0], fs[1], []byte{0}), ErrTrailingData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, writeTo := range []bool{false, true} {
				got, err := decrypt(tt.ct, key, testCtx, writeTo)
				if !errors.Is(err, tt.want) {
					t.Errorf("Decrypt(%s, writeTo=%v) = %d bytes, %v; want %v", tt.name, writeTo, len(got), err, tt.want)
				}
			}
		})
	}
}

// TestEveryBitOfTheStream flips each byte of a small stream; each must be
// refused with one of the package's errors, and never yield the plaintext.
func TestEveryByteOfTheStream(t *testing.T) {
	key := newKey(t)
	pt := make([]byte, seg+10)
	rand.Read(pt)
	ct := encrypt(t, key, pt, testCtx, seg)
	typed := []error{ErrNotStream, ErrUnsupportedVersion, ErrBadHeader, ErrContextMismatch, ErrWrongKey,
		ErrAuthFailed, ErrTruncated, ErrTrailingData}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		_, err := decrypt(bad, key, testCtx, true)
		ok := false
		for _, e := range typed {
			ok = ok || errors.Is(err, e)
		}
		if !ok {
			t.Errorf("Decrypt(stream with byte %d flipped) = %v, want one of the package's errors", i, err)
		}
	}
}

func TestHeaderFields(t *testing.T) {
	key := newKey(t)
	ct := encrypt(t, key, []byte("hello"), testCtx, seg)
	set := func(off int, b ...byte) []byte { c := bytes.Clone(ct); copy(c[off:], b); return c }
	const segOff, saltOff = 8, 12
	prefixOff := saltOff + saltSize
	ctxOff := prefixOff + prefixSize
	commitOff := ctxOff + digestSize
	lenOff := commitOff + digestSize
	tests := []struct {
		name string
		ct   []byte
		want error
	}{
		{"bad-magic", set(0, 'X'), ErrNotStream},
		{"version-2", set(7, 2), ErrUnsupportedVersion},
		{"segment-size-too-small", set(segOff, 0, 0, 3, 0xff), ErrBadHeader},
		{"segment-size-too-large", set(segOff, 0, 0x40, 0, 1), ErrBadHeader},
		{"segment-size-changed", set(segOff, 0, 0, 8, 0), ErrAuthFailed},
		{"salt", set(saltOff, ct[saltOff]^1), ErrWrongKey},
		{"nonce-prefix", set(prefixOff, ct[prefixOff]^1), ErrAuthFailed},
		{"context-digest", set(ctxOff, ct[ctxOff]^1), ErrContextMismatch},
		{"commitment", set(commitOff, ct[commitOff]^1), ErrWrongKey},
		{"wrapped-key-length-zero", set(lenOff, 0, 0, 0, 0), ErrBadHeader},
		{"wrapped-key-length-huge", set(lenOff, 0, 1, 0, 0), ErrBadHeader},
		{"wrapped-key-byte", set(lenOff+4, ct[lenOff+4]^1), ErrAuthFailed},
		{"cut-in-fixed-header", ct[:20], ErrBadHeader},
		{"cut-in-wrapped-key", ct[:lenOff+6], ErrBadHeader},
		{"empty", nil, ErrBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decrypt(tt.ct, key, testCtx, false); !errors.Is(err, tt.want) {
				t.Errorf("Decrypt(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestWrongKeyAndContext(t *testing.T) {
	key := newKey(t)
	ct := encrypt(t, key, []byte("secret"), testCtx, seg)
	if _, err := decrypt(ct, newKey(t), testCtx, false); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Decrypt(other key) = %v, want ErrWrongKey", err)
	}
	for _, c := range []map[string]string{nil, {"app": "billing"}, {"app": "billing", "tenant": "43"},
		{"app": "billing", "tenant": "42", "x": ""}} {
		if _, err := decrypt(ct, key, c, false); !errors.Is(err, ErrContextMismatch) {
			t.Errorf("Decrypt(context %v) = %v, want ErrContextMismatch", c, err)
		}
	}
	if _, err := decrypt(ct, key[:16], testCtx, false); err == nil {
		t.Error("Decrypt(16-byte key) = nil error, want one")
	}
}

// TestContextDigestIsUnambiguous: pairs that concatenate alike digest
// differently.
func TestContextDigestIsUnambiguous(t *testing.T) {
	a := ContextDigest(map[string]string{"ab": "c"})
	b := ContextDigest(map[string]string{"a": "bc"})
	e := ContextDigest(nil)
	if a == b || a == e || e != ContextDigest(map[string]string{}) {
		t.Errorf("ContextDigest: {ab:c} %x, {a:bc} %x, {} %x; want the first two to differ and nil = {}", a, b, e)
	}
}

// TestMemoryBounded: encrypting and decrypting 8 MiB allocates about one
// segment's buffers, not the stream.
func TestMemoryBounded(t *testing.T) {
	key := newKey(t)
	chunk := make([]byte, 32<<10)
	allocs := testing.AllocsPerRun(1, func() {
		w, _ := NewWriter(io.Discard, key, []byte("w"), nil, 0)
		for range 256 {
			w.Write(chunk)
		}
		w.Close()
	})
	if allocs > 40 {
		t.Errorf("allocations to encrypt 8 MiB = %v, want at most 40 (independent of length)", allocs)
	}
}

func BenchmarkWriter(b *testing.B) {
	key := make([]byte, DataKeySize)
	chunk := make([]byte, 1<<20)
	b.SetBytes(int64(len(chunk)))
	w, _ := NewWriter(io.Discard, key, []byte("w"), nil, 0)
	for b.Loop() {
		w.Write(chunk)
	}
	w.Close()
}

// TestContextDigestMatchesAEADEncoding: the header's context digest is
// SHA-256 of the canonical context encoding of the AEAD ciphertexts.
func TestContextDigestMatchesAEADEncoding(t *testing.T) {
	for _, c := range []map[string]string{nil, {"a": ""}, testCtx, {"é": "ü", "": "x", "z": "a"}} {
		if got, want := ContextDigest(c), sha256.Sum256(aeadfmt.EncodeContext(c)); got != want {
			t.Errorf("ContextDigest(%v) = %x, want SHA-256(aeadfmt.EncodeContext) %x", c, got, want)
		}
	}
}
