package crosscheck

import (
	"bytes"
	"crypto/rand"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client/stream"
)

// TestPythonDecryptsFormat: streams that package stream made with a known
// data key decrypt in Python to the same bytes, and altered ones fail
// there. (TestPythonDecryptsClientStream does the same with a data key
// from the real daemon.)
func TestPythonDecryptsFormat(t *testing.T) {
	python(t)
	key := make([]byte, stream.DataKeySize)
	rand.Read(key)
	encCtx := map[string]string{"app": "crosscheck", "é": "ü"}
	for _, tc := range []struct {
		name    string
		n, segs int
	}{{"empty", 0, 0}, {"one-byte", 1, 0}, {"exact-segment", 1024, 1024}, {"several-segments", 5000, 1024},
		{"default-segments", 200 << 10, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			pt := make([]byte, tc.n)
			rand.Read(pt)
			var ct bytes.Buffer
			w, err := stream.NewWriter(&ct, key, []byte("wrapped"), encCtx, tc.segs)
			if err != nil {
				t.Fatal(err)
			}
			w.Write(pt)
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, stderr, ok := pyDecrypt(t, ct.Bytes(), key, encCtx)
			if !ok || !bytes.Equal(got, pt) {
				t.Errorf("stream_decrypt.py(%d bytes) = %d bytes, ok %v (%s); want the plaintext", tc.n, len(got), ok, stderr)
			}
			if tc.n < 2 {
				return
			}
			bad := bytes.Clone(ct.Bytes())
			bad[len(bad)-tc.n/2] ^= 0x80
			if _, stderr, ok := pyDecrypt(t, bad, key, encCtx); ok {
				t.Errorf("stream_decrypt.py(tampered) succeeded, want a refusal (%s)", stderr)
			}
			if _, _, ok := pyDecrypt(t, ct.Bytes()[:ct.Len()-1], key, encCtx); ok {
				t.Error("stream_decrypt.py(cut by one byte) succeeded, want a refusal")
			}
			if _, _, ok := pyDecrypt(t, ct.Bytes(), key, map[string]string{"app": "other"}); ok {
				t.Error("stream_decrypt.py(wrong context) succeeded, want a refusal")
			}
		})
	}
}
