package core

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Checks of the key material a request brings, before the TPM is asked.

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidP256        = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384        = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

// spki is a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
type spki struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// peerKey parses the peer's SubjectPublicKeyInfo: an id-ecPublicKey with a
// named curve, the curve of rec's key, and a point on it, uncompressed or
// compressed (RFC 5480 §2.2 allows both; crypto/x509 takes only the
// former). Anything else is BAD_REQUEST.
func peerKey(rec *store.Record, der []byte) (*ecdh.PublicKey, error) {
	own, err := publicKey(rec)
	if err != nil {
		return nil, err
	}
	ownEC, ok := own.(*ecdsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("ECDH with %q: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	curve, oid, size, name := ecdh.P256(), oidP256, 32, "P-256"
	if ownEC.Curve == elliptic.P384() {
		curve, oid, size, name = ecdh.P384(), oidP384, 48, "P-384"
	}
	var k spki
	var named asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(der, &k); err != nil || len(rest) != 0 {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "peer_public_key is not a DER SubjectPublicKeyInfo")
	}
	if !k.Algorithm.Algorithm.Equal(oidECPublicKey) {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "peer_public_key is not an EC key")
	}
	if rest, err := asn1.Unmarshal(k.Algorithm.Parameters.FullBytes, &named); err != nil || len(rest) != 0 ||
		!named.Equal(oid) {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "peer_public_key must be on %s", name)
	}
	point := k.PublicKey.Bytes
	if k.PublicKey.BitLength != 8*len(point) {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "peer_public_key is not a point on %s", name)
	}
	if len(point) == 1+size && (point[0] == 2 || point[0] == 3) {
		point = uncompressed(ownEC.Curve, point, size)
	}
	pub, err := curve.NewPublicKey(point)
	if err != nil {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "peer_public_key is not a point on %s", name)
	}
	return pub, nil
}

// uncompressed turns a compressed point into the uncompressed form, or
// returns nil when it is not on the curve.
func uncompressed(c elliptic.Curve, point []byte, size int) []byte {
	x, y := elliptic.UnmarshalCompressed(c, point)
	if x == nil {
		return nil
	}
	out := make([]byte, 1+2*size)
	out[0] = 4
	x.FillBytes(out[1 : 1+size])
	y.FillBytes(out[1+size:])
	return out
}

// checkCiphertext requires a ciphertext as long as rec's RSA modulus, as
// RSA decryption does (RFC 8017 §7.1.2), so that a wrong length is refused
// before the TPM is asked.
func checkCiphertext(rec *store.Record, ct []byte) error {
	pub, err := publicKey(rec)
	if err != nil {
		return err
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("decrypt with %q: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	if len(ct) != k.Size() {
		return protocol.Errorf(protocol.StatusBadRequest, "ciphertext is %d bytes, want %d (the modulus length)", len(ct), k.Size())
	}
	return nil
}
