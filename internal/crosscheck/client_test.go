package crosscheck

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/client/stream"
	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// TestPythonDecryptsClientStream: the Go client encrypts a stream with a
// data key from the real daemon (on swtpm); the test has the daemon unwrap
// the header's data key (AEADDecrypt), and the Python reader, given only
// that key and the context, recovers the plaintext and refuses an altered
// stream.
func TestPythonDecryptsClientStream(t *testing.T) {
	python(t)
	swtpmtest.RequireSwtpm(t)
	dir := t.TempDir()
	bins, err := e2e.Build(context.Background(), dir, "cmd/tpmkeyd")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := e2e.StartStack(t, bins[0])
	ctx := context.Background()
	c, err := client.Dial(ctx, s.Socket, client.WithTrustSameUser())
	if err != nil {
		t.Fatalf("client.Dial = %v", err)
	}
	defer c.Close()
	if _, err := c.GenerateKey(ctx, "files", client.AlgAES256GCM); err != nil {
		t.Fatalf("GenerateKey(aes-256-gcm) = %v", err)
	}
	encCtx := map[string]string{"app": "crosscheck", "file": "report.pdf"}
	pt := make([]byte, 3*stream.DefaultSegmentSize+12345)
	rand.Read(pt)
	var ct bytes.Buffer
	if _, err := c.EncryptStream(ctx, "files", encCtx, &ct, bytes.NewReader(pt)); err != nil {
		t.Fatalf("EncryptStream = %v", err)
	}
	h, err := stream.ReadHeader(bytes.NewReader(ct.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	dataKey, err := c.AEADDecrypt(ctx, h.WrappedKey, encCtx)
	if err != nil {
		t.Fatalf("AEADDecrypt(the header's wrapped key) = %v", err)
	}
	got, stderr, ok := pyDecrypt(t, ct.Bytes(), dataKey, encCtx)
	if !ok || !bytes.Equal(got, pt) {
		t.Fatalf("stream_decrypt.py(client stream) = %d bytes, ok %v (%s); want the %d-byte plaintext", len(got), ok, stderr, len(pt))
	}
	for _, tc := range []struct {
		name string
		ct   []byte
	}{
		{"flipped-in-segment-2", flip(ct.Bytes(), h.Size()+2*(stream.DefaultSegmentSize+stream.TagSize)+5)},
		{"flipped-in-wrapped-key", flip(ct.Bytes(), h.Size()-3)},
		{"final-segment-dropped", ct.Bytes()[:h.Size()+3*(stream.DefaultSegmentSize+stream.TagSize)]},
	} {
		if _, stderr, ok := pyDecrypt(t, tc.ct, dataKey, encCtx); ok {
			t.Errorf("stream_decrypt.py(%s) succeeded, want a refusal", tc.name)
		} else {
			t.Logf("stream_decrypt.py(%s): %s", tc.name, stderr)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x40
	return c
}
