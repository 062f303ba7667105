package native

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

func TestWipeReader(t *testing.T) {
	data := []byte("0123456789abcdefghijklmnopqrstuvwxyz")
	for _, tc := range []struct {
		name string
		rd   io.Reader
	}{
		{"whole", bytes.NewReader(data)},
		{"one-byte-reads", iotest.OneByteReader(bytes.NewReader(data))},
		{"half-reads", iotest.HalfReader(bytes.NewReader(data))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newWipeReader(tc.rd, 8)
			p, err := b.Peek(4)
			if err != nil || string(p) != "0123" {
				t.Fatalf("Peek(4) = %q, %v, want 0123", p, err)
			}
			got, err := io.ReadAll(b)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadAll = %q, %v, want %q", got, err, data)
			}
			b.Wipe()
			if !bytes.Equal(b.buf, make([]byte, 8)) {
				t.Errorf("buffer after Wipe = %q, want zeros", b.buf)
			}
		})
	}
	b := newWipeReader(bytes.NewReader([]byte("secretXYZ")), 16)
	io.ReadFull(b, make([]byte, 6))
	b.Wipe()
	if bytes.Contains(b.buf, []byte("secret")) {
		t.Errorf("buffer after Wipe holds the consumed secret: %q", b.buf)
	}
	if rest, _ := io.ReadAll(b); string(rest) != "XYZ" {
		t.Errorf("unread bytes after Wipe = %q, want XYZ", rest)
	}
}
