package keyfile

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types this package reads.
const (
	pemPKCS8     = "PRIVATE KEY"
	pemPKCS8Enc  = "ENCRYPTED PRIVATE KEY"
	pemSEC1      = "EC PRIVATE KEY"
	pemPKCS1     = "RSA PRIVATE KEY"
	maxInputSize = 64 << 10
)

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidRSA         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidP256        = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384        = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

// Passphrase returns the passphrase of an encrypted key; the caller wipes
// what it returns once Parse is done.
type Passphrase func() ([]byte, error)

// Parse returns the private key in data, PEM or DER: an *ecdsa.PrivateKey
// on P-256 or P-384, or an *rsa.PrivateKey of 2048 or 3072 bits with
// exponent 65537. passphrase is called only for encrypted input; when it
// is nil, encrypted input is ErrEncrypted.
func Parse(data []byte, passphrase Passphrase) (crypto.Signer, error) {
	if len(data) == 0 || len(data) > maxInputSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(data))
	}
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		var info encryptedPrivateKeyInfo
		if rest, err := asn1.Unmarshal(data, &info); err == nil && len(rest) == 0 && info.Algo.Algorithm.Equal(oidPBES2) {
			return parseEncryptedPKCS8(data, passphrase)
		}
		return parseDER(data)
	}
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("%w: no private key PEM block", ErrMalformed)
		}
		switch block.Type {
		case pemPKCS8, pemSEC1, pemPKCS1:
			if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck // legacy format, read on purpose
				return parseLegacyEncrypted(block, passphrase)
			}
			return parseDER(block.Bytes)
		case pemPKCS8Enc:
			return parseEncryptedPKCS8(block.Bytes, passphrase)
		}
		// Other blocks ("EC PARAMETERS", certificates) are skipped.
	}
}

// parseDER tries PKCS #8, then SEC1, then PKCS #1.
func parseDER(der []byte) (crypto.Signer, error) {
	var p8 pkcs8
	if rest, err := asn1.Unmarshal(der, &p8); err == nil && len(rest) == 0 && p8.Algo.Algorithm != nil {
		return parsePKCS8(der, &p8)
	}
	var ec ecPrivateKey
	if rest, err := asn1.Unmarshal(der, &ec); err == nil && len(rest) == 0 && ec.Version == 1 {
		return parseSEC1(der, &ec, nil)
	}
	var p1 pkcs1
	if rest, err := asn1.Unmarshal(der, &p1); err == nil && len(rest) == 0 {
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			// Well-formed ASN.1 whose numbers do not make one key.
			return nil, fmt.Errorf("%w: %v", ErrMismatch, err)
		}
		return checkRSA(k)
	}
	return nil, ErrMalformed
}

// pkcs8 is OneAsymmetricKey (RFC 5958), whose optional public key Go's
// parser ignores.
type pkcs8 struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
	Attributes asn1.RawValue  `asn1:"optional,tag:0"`
	PublicKey  asn1.BitString `asn1:"optional,tag:1"`
}

// ecPrivateKey is RFC 5915's ECPrivateKey.
type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// pkcs1 is RFC 8017's RSAPrivateKey, enough to recognise one.
type pkcs1 struct {
	Version int
	N, E    asn1.RawValue
	Rest    []asn1.RawValue `asn1:"optional"`
}

func parsePKCS8(der []byte, p8 *pkcs8) (crypto.Signer, error) {
	switch {
	case p8.Algo.Algorithm.Equal(oidRSA):
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrMismatch, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("%w: RSA identifier, %T key", ErrMalformed, k)
		}
		if len(p8.PublicKey.Bytes) > 0 {
			pub, err := x509.ParsePKCS1PublicKey(p8.PublicKey.Bytes)
			if err != nil || !pub.Equal(&rk.PublicKey) {
				return nil, fmt.Errorf("%w: PKCS#8 public key", ErrMismatch)
			}
		}
		return checkRSA(rk)
	case p8.Algo.Algorithm.Equal(oidECPublicKey):
		var curve asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(p8.Algo.Parameters.FullBytes, &curve); err != nil {
			return nil, fmt.Errorf("%w: EC key without a named curve", ErrUnsupported)
		}
		var ec ecPrivateKey
		if rest, err := asn1.Unmarshal(p8.PrivateKey, &ec); err != nil || len(rest) != 0 {
			return nil, fmt.Errorf("%w: PKCS#8 EC key body", ErrMalformed)
		}
		if len(ec.NamedCurveOID) > 0 && !ec.NamedCurveOID.Equal(curve) {
			return nil, fmt.Errorf("%w: PKCS#8 names curve %v, its key %v", ErrMismatch, curve, ec.NamedCurveOID)
		}
		ec.NamedCurveOID = curve
		return parseSEC1(p8.PrivateKey, &ec, p8.PublicKey.Bytes)
	}
	return nil, fmt.Errorf("%w: key algorithm %v (want EC P-256/P-384 or RSA)", ErrUnsupported, p8.Algo.Algorithm)
}

// parseSEC1 checks the curve and every embedded public key (in SEC1, and
// in the PKCS #8 wrapper when outerPub is set) against the private scalar.
func parseSEC1(der []byte, ec *ecPrivateKey, outerPub []byte) (crypto.Signer, error) {
	var curve elliptic.Curve
	switch {
	case ec.NamedCurveOID.Equal(oidP256):
		curve = elliptic.P256()
	case ec.NamedCurveOID.Equal(oidP384):
		curve = elliptic.P384()
	default:
		return nil, fmt.Errorf("%w: curve %v (want P-256 or P-384)", ErrUnsupported, ec.NamedCurveOID)
	}
	size := (curve.Params().BitSize + 7) / 8
	d := ec.PrivateKey
	for len(d) > size && d[0] == 0 {
		d = d[1:]
	}
	if len(d) > size {
		return nil, fmt.Errorf("%w: EC scalar of %d bytes", ErrMalformed, len(d))
	}
	raw := make([]byte, size)
	copy(raw[size-len(d):], d)
	defer clear(raw)
	k, err := ecdsa.ParseRawPrivateKey(curve, raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	want, err := k.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	for _, got := range [][]byte{ec.PublicKey.Bytes, outerPub} {
		if len(got) > 0 && !bytes.Equal(got, want) {
			return nil, fmt.Errorf("%w: embedded EC public key", ErrMismatch)
		}
	}
	return k, nil
}

func checkRSA(k *rsa.PrivateKey) (crypto.Signer, error) {
	if bits := k.N.BitLen(); bits != 2048 && bits != 3072 {
		return nil, fmt.Errorf("%w: RSA-%d (want 2048 or 3072)", ErrUnsupported, bits)
	}
	if k.E != 65537 {
		return nil, fmt.Errorf("%w: RSA exponent %d (want 65537)", ErrUnsupported, k.E)
	}
	if len(k.Primes) != 2 {
		return nil, fmt.Errorf("%w: multi-prime RSA", ErrUnsupported)
	}
	if err := k.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMismatch, err)
	}
	return k, nil
}

// parseLegacyEncrypted reads an OpenSSL "Proc-Type: 4,ENCRYPTED" block.
func parseLegacyEncrypted(block *pem.Block, passphrase Passphrase) (crypto.Signer, error) {
	if passphrase == nil {
		return nil, ErrEncrypted
	}
	pw, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("keyfile: passphrase: %w", err)
	}
	der, err := x509.DecryptPEMBlock(block, pw) //nolint:staticcheck // legacy format, read on purpose
	if err != nil {
		if errors.Is(err, x509.IncorrectPasswordError) {
			return nil, ErrPassphrase
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	defer clear(der)
	k, err := parseDER(der)
	if errors.Is(err, ErrMalformed) {
		return nil, ErrPassphrase // CBC padding happened to look right
	}
	return k, err
}
