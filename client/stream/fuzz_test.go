package stream

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to ReadHeader and the Reader with a
// fixed key: whatever the input, they return one of the package's errors
// (or succeed), never panic, and never hold more than a segment.
func FuzzReader(f *testing.F) {
	key := bytes.Repeat([]byte{7}, DataKeySize)
	for _, n := range []int{0, 1, MinSegmentSize, MinSegmentSize + 1} {
		var ct bytes.Buffer
		w, _ := NewWriter(&ct, key, []byte("wrapped"), nil, MinSegmentSize)
		w.Write(make([]byte, n))
		w.Close()
		f.Add(ct.Bytes())
	}
	f.Add([]byte(Magic))
	f.Add([]byte(Magic + "\x01\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		src := bytes.NewReader(b)
		h, err := ReadHeader(src)
		if err != nil {
			return
		}
		if h.SegmentSize > MaxSegmentSize || len(h.WrappedKey) > MaxWrappedKey {
			t.Fatalf("ReadHeader accepted segment size %d, wrapped key %d bytes", h.SegmentSize, len(h.WrappedKey))
		}
		r, err := NewReader(src, h, key)
		if err != nil {
			if !errors.Is(err, ErrWrongKey) {
				t.Fatalf("NewReader = %v, want nil or ErrWrongKey", err)
			}
			return
		}
		io.Copy(io.Discard, r)
	})
}
