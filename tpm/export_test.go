package tpm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// TestExportToBackup: a key made exportable to B's SRK is duplicated by
// A, imported by B, and signs there with the same public key; it cannot
// be exported to C, and a key made without the policy not at all.
func TestExportToBackup(t *testing.T) {
	a, b, c := openTest(t), openTest(t), openTest(t)
	ctx := context.Background()
	bPub, err := wrap.ParseParent(b.SRKPublic())
	if err != nil {
		t.Fatalf("ParseParent(B) = %v", err)
	}
	cPub, _ := wrap.ParseParent(c.SRKPublic())
	blob, pub, err := a.CreateKey(ctx, KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, ExportTo: b.SRKName()})
	if err != nil {
		t.Fatalf("CreateKey(exportable) = %v", err)
	}
	if d, _ := Describe(blob); !d.Exportable || !d.Movable {
		t.Fatalf("Describe(exportable) = %+v, want exportable", d)
	}
	digest := sha256.Sum256([]byte("x"))
	if _, err := a.Sign(ctx, blob, Auth{}, digest[:], SignOptions{Hash: crypto.SHA256}); err != nil {
		t.Fatalf("Sign on A = %v", err)
	}
	w, err := a.ExportKey(ctx, blob, bPub)
	if err != nil {
		t.Fatalf("ExportKey(to B) = %v", err)
	}
	if _, err := a.ExportKey(ctx, blob, cPub); !errors.Is(err, ErrNotExportable) {
		t.Fatalf("ExportKey(to C) = %v, want ErrNotExportable", err)
	}
	if _, _, err := c.ImportWrapped(ctx, w); !errors.Is(err, ErrImport) {
		t.Fatalf("C.ImportWrapped(for B) = %v, want ErrImport", err)
	}
	nb, npub, err := b.ImportWrapped(ctx, w)
	if err != nil {
		t.Fatalf("B.ImportWrapped = %v", err)
	}
	if !pub.(*ecdsa.PublicKey).Equal(npub) {
		t.Fatalf("B's public key differs from A's")
	}
	sig, err := b.Sign(ctx, nb, Auth{}, digest[:], SignOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatalf("Sign on B = %v", err)
	}
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest[:], sig) {
		t.Fatalf("B's signature does not verify with A's public key")
	}
	fixed, _, err := a.CreateKey(ctx, KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ExportKey(ctx, fixed, bPub); !errors.Is(err, ErrNotExportable) {
		t.Fatalf("ExportKey(fixed key) = %v, want ErrNotExportable", err)
	}
}

// TestExportHMACKey: an exportable HMAC key moves to B and makes the same
// tags there.
func TestExportHMACKey(t *testing.T) {
	a, b := openTest(t), openTest(t)
	ctx := context.Background()
	blob, _, err := a.CreateKey(ctx, KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC, ExportTo: b.SRKName()})
	if err != nil {
		t.Fatalf("CreateKey(exportable hmac) = %v", err)
	}
	want, err := a.HMAC(ctx, blob, Auth{}, []byte("data"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := a.ExportKey(ctx, blob, mustParent(t, b.SRKPublic()))
	if err != nil {
		t.Fatalf("ExportKey(hmac) = %v", err)
	}
	nb, _, err := b.ImportWrapped(ctx, w)
	if err != nil {
		t.Fatalf("B.ImportWrapped(hmac) = %v", err)
	}
	got, err := b.HMAC(ctx, nb, Auth{}, []byte("data"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("B.HMAC = %x, %v; want A's %x", got, err, want)
	}
}
