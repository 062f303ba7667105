package aeadfmt

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestDeriveHKDFMatchesStdlib: deriveHKDF is crypto/hkdf's HKDF-SHA256,
// for sizes in and out of its stack buffers.
func TestDeriveHKDFMatchesStdlib(t *testing.T) {
	rnd := rand.New(rand.NewPCG(11, 12))
	bs := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	for i := range 2000 {
		secret, salt := bs(rnd.IntN(200)), bs(rnd.IntN(80))
		info := string(bs(rnd.IntN(160)))
		n := 1 + rnd.IntN(100)
		if i%3 == 0 {
			secret, salt, info, n = bs(WorkingKeySize), bs(SaltSize), SubkeyInfo+string(bs(HeaderSize)), WorkingKeySize+CommitmentSize
		}
		want, err := hkdf.Key(sha256.New, secret, salt, info, n)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, n)
		if err := deriveHKDF(got, secret, salt, info); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("deriveHKDF(secret %d, salt %d, info %d, %d bytes) = %x, %v, want %x", len(secret), len(salt), len(info), n, got, err, want)
		}
	}
}

func TestDeriveHKDFAllocs(t *testing.T) {
	wk, salt, out := make([]byte, WorkingKeySize), make([]byte, SaltSize), make([]byte, 64)
	info := SubkeyInfo + string(make([]byte, HeaderSize))
	if n := testing.AllocsPerRun(100, func() { deriveHKDF(out, wk, salt, info) }); n != 0 {
		t.Errorf("deriveHKDF allocs = %v, want 0", n)
	}
}

func BenchmarkDeriveMessageKey(b *testing.B) {
	wk := make([]byte, WorkingKeySize)
	var h Header
	b.ReportAllocs()
	for b.Loop() {
		k, _ := DeriveMessageKey(wk, h)
		k.Wipe()
	}
}
