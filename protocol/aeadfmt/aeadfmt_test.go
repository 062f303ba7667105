package aeadfmt

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

func seq(from byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = from + byte(i)
	}
	return b
}

// goldenVector is docs/PROTOCOL.md's worked example (Appendix: AEAD
// ciphertext), every value in hex.
type goldenVector struct {
	WorkingKey     string            `json:"working_key"`
	KeyID          string            `json:"key_id"`
	KeyVersion     uint32            `json:"key_version"`
	Salt           string            `json:"salt"`
	Nonce          string            `json:"nonce"`
	Context        map[string]string `json:"context"`
	ContextEncoded string            `json:"context_encoded"`
	Plaintext      string            `json:"plaintext"`
	WorkingKeyIn   string            `json:"working_key_input"`
	Ciphertext     string            `json:"ciphertext"`
}

func sample() (wk []byte, h Header, ctx map[string]string, pt []byte) {
	copy(h.KeyID[:], seq(0xa0, KeyIDSize))
	h.KeyVersion = 2
	copy(h.Salt[:], seq(0x20, SaltSize))
	copy(h.Nonce[:], seq(0x40, NonceSize))
	return seq(0x00, WorkingKeySize), h, map[string]string{"tenant": "42", "app": "billing"}, []byte("hello, tpmkeyd")
}

func TestGoldenVector(t *testing.T) {
	wk, h, ctx, pt := sample()
	ct, err := Seal(wk, h, pt, ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := goldenVector{WorkingKey: hex.EncodeToString(wk), KeyID: hex.EncodeToString(h.KeyID[:]), KeyVersion: h.KeyVersion,
		Salt: hex.EncodeToString(h.Salt[:]), Nonce: hex.EncodeToString(h.Nonce[:]), Context: ctx,
		ContextEncoded: hex.EncodeToString(EncodeContext(ctx)), Plaintext: hex.EncodeToString(pt),
		WorkingKeyIn: hex.EncodeToString(WorkingKeyInput(h.KeyID, h.KeyVersion)), Ciphertext: hex.EncodeToString(ct)}
	path := filepath.Join("testdata", "vectors.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	var want goldenVector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if got.Ciphertext != want.Ciphertext || got.ContextEncoded != want.ContextEncoded || got.WorkingKeyIn != want.WorkingKeyIn {
		t.Errorf("Seal(sample) = %s, want %s (context %s, want %s)", got.Ciphertext, want.Ciphertext, got.ContextEncoded, want.ContextEncoded)
	}
	back, err := Open(wk, ct, ctx)
	if err != nil || !bytes.Equal(back, pt) {
		t.Errorf("Open(Seal(x)) = %q, %v, want %q", back, err, pt)
	}
}

func TestEncodeContext(t *testing.T) {
	tests := []struct {
		name string
		ctx  map[string]string
		want string
	}{
		{"nil", nil, "00000000"},
		{"empty", map[string]string{}, "00000000"},
		{"one", map[string]string{"a": ""}, "00000001" + "00000001" + "61" + "00000000"},
		{"sorted-by-bytes", map[string]string{"b": "1", "B": "2"}, "00000002" + "00000001" + "42" + "00000001" + "32" + "00000001" + "62" + "00000001" + "31"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hex.EncodeToString(EncodeContext(tt.ctx)); got != tt.want {
				t.Errorf("EncodeContext(%v) = %s, want %s", tt.ctx, got, tt.want)
			}
		})
	}
}

// TestTamperEveryByte: flipping any bit of any byte, or cutting the
// ciphertext anywhere, fails.
func TestTamperEveryByte(t *testing.T) {
	wk, h, ctx, pt := sample()
	ct, err := Seal(wk, h, pt, ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := Open(wk, bad, ctx); !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrFormat) {
			t.Errorf("Open(ciphertext with byte %d flipped) = %v, want ErrDecrypt or ErrFormat", i, err)
		}
	}
	for n := range len(ct) {
		if _, err := Open(wk, ct[:n], ctx); err == nil {
			t.Errorf("Open(ciphertext cut to %d bytes) = nil error, want one", n)
		}
	}
	for _, c := range []map[string]string{nil, {"app": "billing"}, {"app": "billing", "tenant": "43"}, {"app": "billing", "tenant": "42", "x": ""}} {
		if _, err := Open(wk, ct, c); !errors.Is(err, ErrDecrypt) {
			t.Errorf("Open(ciphertext, context %v) = %v, want ErrDecrypt", c, err)
		}
	}
	other := seq(0x01, WorkingKeySize)
	if _, err := Open(other, ct, ctx); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open(other key) = %v, want ErrDecrypt", err)
	}
}

// TestCommitment: a ciphertext whose GCM part is valid under another
// key, but whose commitment is of the first key, is refused before GCM is
// tried: the commitment is checked.
func TestCommitment(t *testing.T) {
	wk, h, ctx, pt := sample()
	ct, _ := Seal(wk, h, pt, ctx)
	other := seq(0x01, WorkingKeySize)
	ct2, _ := Seal(other, h, pt, ctx)
	spliced := append(bytes.Clone(ct[:HeaderSize+CommitmentSize]), ct2[HeaderSize+CommitmentSize:]...)
	if _, err := Open(wk, spliced, ctx); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open(commitment of key 1, body of key 2) = %v, want ErrDecrypt", err)
	}
	if _, err := Open(other, spliced, ctx); !errors.Is(err, ErrDecrypt) {
		t.Errorf("Open(key 2, commitment of key 1) = %v, want ErrDecrypt", err)
	}
}

func FuzzOpen(f *testing.F) {
	wk, h, ctx, pt := sample()
	ct, _ := Seal(wk, h, pt, ctx)
	f.Add(ct)
	f.Add(ct[:Overhead])
	f.Fuzz(func(t *testing.T, b []byte) {
		if out, err := Open(wk, b, ctx); err == nil && !bytes.Equal(b, ct) {
			t.Fatalf("Open(%x) = %q, nil; only the sample opens", b, out)
		}
	})
}

// TestPythonOpens: a Python 3 reader written from the docs alone, with
// Debian's python3-cryptography, opens the golden vector and a fresh
// ciphertext with a random key, salt and nonce, and refuses a wrong context.
func TestPythonOpens(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err == nil {
		err = exec.Command(py, "-c", "import cryptography.hazmat.primitives.ciphers.aead").Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("python3 with python3-cryptography not found under CI=true: %v", err)
		}
		t.Skipf("python3-cryptography not installed: %v", err)
	}
	wk := make([]byte, WorkingKeySize)
	rand.Read(wk)
	var id [KeyIDSize]byte
	rand.Read(id[:])
	h, err := NewHeader(id, 7, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pt := []byte("from Go to Python \x00\xff")
	ctx := map[string]string{"zeta": "1", "alpha": "ünïcode", "": "empty key"}
	ct, err := Seal(wk, h, pt, ctx)
	if err != nil {
		t.Fatal(err)
	}
	gwk, gh, gctx, gpt := sample()
	gct, _ := Seal(gwk, gh, gpt, gctx)
	tests := []struct {
		name string
		wk   []byte
		ct   []byte
		ctx  map[string]string
		want []byte // nil: must not open
	}{
		{"golden", gwk, gct, gctx, gpt},
		{"random", wk, ct, ctx, pt},
		{"wrong-context", wk, ct, map[string]string{"zeta": "1"}, nil},
		{"wrong-key", gwk, ct, ctx, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, _ := json.Marshal(map[string]any{"working_key": hex.EncodeToString(tt.wk), "ciphertext": hex.EncodeToString(tt.ct), "context": tt.ctx})
			cmd := exec.Command(py, filepath.Join("testdata", "open_v1.py"))
			cmd.Stdin = bytes.NewReader(in)
			out, err := cmd.Output()
			if tt.want == nil {
				if err == nil {
					t.Errorf("open_v1.py(%s) = %s, want exit 1", tt.name, out)
				}
				return
			}
			if err != nil || string(bytes.TrimSpace(out)) != hex.EncodeToString(tt.want) {
				t.Errorf("open_v1.py(%s) = %s, %v, want %x", tt.name, out, err, tt.want)
			}
		})
	}
}

func benchmarkSeal(b *testing.B, n int) {
	wk, h, _, _ := sample()
	pt := make([]byte, n)
	b.SetBytes(int64(n))
	for b.Loop() {
		if _, err := Seal(wk, h, pt, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal1KiB(b *testing.B) { benchmarkSeal(b, 1<<10) }
func BenchmarkSeal1MiB(b *testing.B) { benchmarkSeal(b, 1<<20) }
