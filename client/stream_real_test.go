package client_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/client/stream"
)

// TestRealStream encrypts and decrypts stream envelopes with a real
// daemon's aes-256-gcm key, through both forms of the API, and checks
// that a wrong context or a cut stream is ErrDecryptFailed.
func TestRealStream(t *testing.T) {
	c := dialReal(t)
	ctx := context.Background()
	if _, err := c.GenerateKey(ctx, "stream", client.AlgAES256GCM); err != nil {
		t.Fatalf("GenerateKey = %v", err)
	}
	t.Cleanup(func() { c.DeleteKey(ctx, "stream") })
	encCtx := map[string]string{"purpose": "test"}
	seg := stream.DefaultSegmentSize
	for _, tc := range []struct {
		name string
		n    int
	}{{"empty", 0}, {"one-byte", 1}, {"one-segment", seg}, {"segment-plus-one", seg + 1}, {"two-mib", 2 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			pt := make([]byte, tc.n)
			rand.Read(pt)
			var ct bytes.Buffer
			if n, err := c.EncryptStream(ctx, "stream", encCtx, &ct, bytes.NewReader(pt)); err != nil || n != int64(tc.n) {
				t.Fatalf("EncryptStream(%d bytes) = %d, %v", tc.n, n, err)
			}
			var got bytes.Buffer
			if n, err := c.DecryptStream(ctx, encCtx, &got, bytes.NewReader(ct.Bytes())); err != nil || n != int64(tc.n) || !bytes.Equal(got.Bytes(), pt) {
				t.Errorf("DecryptStream = %d, %v; want the %d-byte plaintext", n, err, tc.n)
			}
			// The io.Writer and io.Reader forms read each other's output.
			var ct2 bytes.Buffer
			w, err := c.NewEncryptWriter(ctx, "stream", encCtx, &ct2)
			if err != nil {
				t.Fatalf("NewEncryptWriter = %v", err)
			}
			io.Copy(w, bytes.NewReader(pt))
			if err := w.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			r, err := c.NewDecryptReader(ctx, encCtx, bytes.NewReader(ct2.Bytes()))
			if err != nil {
				t.Fatalf("NewDecryptReader = %v", err)
			}
			if b, err := io.ReadAll(r); err != nil || !bytes.Equal(b, pt) {
				t.Errorf("NewDecryptReader: ReadAll = %d bytes, %v; want the plaintext", len(b), err)
			}
		})
	}

	var ct bytes.Buffer
	pt := make([]byte, 3*seg)
	if _, err := c.EncryptStream(ctx, "stream", encCtx, &ct, bytes.NewReader(pt)); err != nil {
		t.Fatal(err)
	}
	failures := []struct {
		name   string
		encCtx map[string]string
		ct     []byte
		want   error
	}{
		{"wrong-context", map[string]string{"purpose": "other"}, ct.Bytes(), stream.ErrContextMismatch},
		{"no-context", nil, ct.Bytes(), stream.ErrContextMismatch},
		{"final-segment-dropped", encCtx, ct.Bytes()[:ct.Len()-(seg+stream.TagSize)], stream.ErrTruncated},
	}
	for _, f := range failures {
		_, err := c.DecryptStream(ctx, f.encCtx, io.Discard, bytes.NewReader(f.ct))
		if !errors.Is(err, client.ErrDecryptFailed) || !errors.Is(err, f.want) {
			t.Errorf("DecryptStream(%s) = %v, want ErrDecryptFailed and %v", f.name, err, f.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	src := &cancelAfter{r: bytes.NewReader(make([]byte, 8<<20)), left: 1 << 20, cancel: cancel}
	if n, err := c.EncryptStream(cctx, "stream", nil, io.Discard, src); !errors.Is(err, context.Canceled) || n > 2<<20 {
		t.Errorf("EncryptStream cancelled after 1 MiB = %d bytes, %v; want context.Canceled soon after", n, err)
	}
	if _, err := c.EncryptStream(ctx, "no-such-key", nil, io.Discard, bytes.NewReader(pt)); !errors.Is(err, client.ErrKeyNotFound) {
		t.Errorf("EncryptStream(missing key) = %v, want ErrKeyNotFound", err)
	}
}

// cancelAfter calls cancel once left bytes have been read.
type cancelAfter struct {
	r      io.Reader
	left   int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.left -= n; c.left <= 0 {
		c.cancel()
	}
	return n, err
}
