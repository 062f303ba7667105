package tpm

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// ECDH returns the x coordinate of d*peer; peer is *ecdsa.PublicKey or *ecdh.PublicKey.
func (t *TPM) ECDH(ctx context.Context, b *Blob, a Auth, peer crypto.PublicKey) ([]byte, error) {
	p, err := t.use(b, a, PurposeAgree)
	if err != nil {
		return nil, fmt.Errorf("tpm.ECDH: %w", err)
	}
	x, y, err := peerPoint(p.alg, peer)
	if err != nil {
		return nil, fmt.Errorf("tpm.ECDH: %w", err)
	}
	var out []byte
	err = t.withKey(ctx, "tpm2.ECDH_ZGen", p, a, true, false, func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error {
		rsp, err := tpm2.ECDHZGen{
			KeyHandle: ah,
			InPoint:   tpm2.New2B(tpm2.TPMSECCPoint{X: tpm2.TPM2BECCParameter{Buffer: x}, Y: tpm2.TPM2BECCParameter{Buffer: y}}),
		}.Execute(tr, extra...)
		if err != nil {
			return err
		}
		pt, err := rsp.OutPoint.Contents()
		if err != nil {
			return err
		}
		out = leftPad(pt.X.Buffer, len(x))
		return nil
	})
	return out, err
}

// peerPoint validates peer (on the key's curve) and returns its
// fixed-size coordinates.
func peerPoint(alg Algorithm, peer crypto.PublicKey) ([]byte, []byte, error) {
	want := ecdh.P256()
	if alg == ECCP384 {
		want = ecdh.P384()
	}
	var pk *ecdh.PublicKey
	switch k := peer.(type) {
	case *ecdh.PublicKey:
		pk = k
	case *ecdsa.PublicKey:
		var err error
		if pk, err = k.ECDH(); err != nil {
			return nil, nil, fmt.Errorf("%w: peer key: %v", ErrInvalid, err)
		}
	default:
		return nil, nil, fmt.Errorf("%w: peer key of type %T", ErrInvalid, peer)
	}
	if pk.Curve() != want {
		return nil, nil, fmt.Errorf("%w: peer key on another curve than the %v key", ErrInvalid, alg)
	}
	enc := pk.Bytes() // 0x04 || X || Y
	n := (len(enc) - 1) / 2
	return enc[1 : 1+n], enc[1+n:], nil
}

func leftPad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	out := make([]byte, n)
	copy(out[n-len(b):], b)
	return out
}
