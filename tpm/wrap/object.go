package wrap

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Attributes are what the object may do and how it is authorized.
type Attributes struct {
	Sign    bool // sign (ECDSA, RSA) or HMAC (keyedhash)
	Decrypt bool // RSA decrypt, or ECDH for an EC key
	// AuthValue is the object's auth value (a PIN's derivation); empty
	// for none, and then the object is noDA.
	AuthValue []byte
	// AuthPolicy is the object's policy digest (SHA-256). Empty: the
	// object can never be duplicated (TPM2_Duplicate needs a policy
	// session in the DUP role) and is used with its auth value.
	AuthPolicy []byte
	// PolicyOnly clears userWithAuth: the object is used only with its
	// policy (a PCR binding).
	PolicyOnly bool
}

// MaxHMACKeySize is the longest HMAC key Object accepts (SHA-256's block).
const MaxHMACKeySize = 64

// MinHMACKeySize is the shortest: shorter keys are too weak to import.
const MinHMACKeySize = 16

// Object returns the TPM public and sensitive areas of key: an
// *ecdsa.PrivateKey on P-256 or P-384, an *rsa.PrivateKey (2048 or 3072
// bits, exponent 65537), or HMAC-SHA256 key bytes ([]byte). The object is
// not fixedTPM or fixedParent (TPM2_Import refuses either) and not
// sensitiveDataOrigin (the TPM did not make it). The caller wipes the
// sensitive area with Wipe once it is wrapped.
func Object(key any, a Attributes) (tpm2.TPMTPublic, tpm2.TPMTSensitive, error) {
	attrs := tpm2.TPMAObject{
		UserWithAuth: !a.PolicyOnly,
		NoDA:         len(a.AuthValue) == 0,
		SignEncrypt:  a.Sign,
		Decrypt:      a.Decrypt,
	}
	pub := tpm2.TPMTPublic{NameAlg: tpm2.TPMAlgSHA256, ObjectAttributes: attrs,
		AuthPolicy: tpm2.TPM2BDigest{Buffer: a.AuthPolicy}}
	sens := tpm2.TPMTSensitive{AuthValue: tpm2.TPM2BAuth{Buffer: append([]byte(nil), a.AuthValue...)}}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		curve, size := tpm2.TPMECCNistP256, 32
		switch k.Curve {
		case elliptic.P256():
		case elliptic.P384():
			curve, size = tpm2.TPMECCNistP384, 48
		default:
			return pub, sens, fmt.Errorf("%w: curve %s", ErrUnsupported, k.Curve.Params().Name)
		}
		raw, err := k.Bytes()
		if err != nil {
			return pub, sens, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		pt, err := k.PublicKey.Bytes()
		if err != nil {
			return pub, sens, fmt.Errorf("%w: %v", ErrUnsupported, err)
		}
		pub.Type = tpm2.TPMAlgECC
		pub.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
			CurveID:   curve,
			KDF:       tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		})
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
			X: tpm2.TPM2BECCParameter{Buffer: pt[1 : 1+size]},
			Y: tpm2.TPM2BECCParameter{Buffer: pt[1+size:]},
		})
		sens.SensitiveType = tpm2.TPMAlgECC
		sens.Sensitive = tpm2.NewTPMUSensitiveComposite(tpm2.TPMAlgECC, &tpm2.TPM2BECCParameter{Buffer: raw})
	case *rsa.PrivateKey:
		bits := k.N.BitLen()
		if (bits != 2048 && bits != 3072) || k.E != 65537 || len(k.Primes) != 2 {
			return pub, sens, fmt.Errorf("%w: RSA-%d with exponent %d and %d primes", ErrUnsupported, bits, k.E, len(k.Primes))
		}
		pub.Type = tpm2.TPMAlgRSA
		pub.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
			KeyBits:   tpm2.TPMKeyBits(bits),
		})
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{Buffer: k.N.FillBytes(make([]byte, bits/8))})
		sens.SensitiveType = tpm2.TPMAlgRSA
		sens.Sensitive = tpm2.NewTPMUSensitiveComposite(tpm2.TPMAlgRSA,
			&tpm2.TPM2BPrivateKeyRSA{Buffer: k.Primes[0].FillBytes(make([]byte, bits/16))})
	case []byte:
		if len(k) < MinHMACKeySize || len(k) > MaxHMACKeySize {
			return pub, sens, fmt.Errorf("%w: HMAC key of %d bytes (%d..%d)", ErrUnsupported, len(k), MinHMACKeySize, MaxHMACKeySize)
		}
		if a.Decrypt {
			return pub, sens, fmt.Errorf("%w: an HMAC key only signs", ErrUnsupported)
		}
		// unique = H(seedValue || sensitive), Part 1 §27.2.4: the seed
		// hides the key from anyone who sees the public area.
		seed := make([]byte, sha256.Size)
		if _, err := rand.Read(seed); err != nil {
			return pub, sens, err
		}
		h := sha256.New()
		h.Write(seed)
		h.Write(k)
		pub.Type = tpm2.TPMAlgKeyedHash
		pub.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{
				Scheme:  tpm2.TPMAlgHMAC,
				Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256}),
			},
		})
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{Buffer: h.Sum(nil)})
		sens.SensitiveType = tpm2.TPMAlgKeyedHash
		sens.SeedValue = tpm2.TPM2BDigest{Buffer: seed}
		sens.Sensitive = tpm2.NewTPMUSensitiveComposite(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BSensitiveData{Buffer: append([]byte(nil), k...)})
	default:
		return pub, sens, fmt.Errorf("%w: key of type %T", ErrUnsupported, key)
	}
	return pub, sens, nil
}

// Wipe zeroes the secret bytes of a sensitive area that Object made.
func Wipe(s *tpm2.TPMTSensitive) {
	clear(s.AuthValue.Buffer)
	clear(s.SeedValue.Buffer)
	if b, err := s.Sensitive.ECC(); err == nil {
		clear(b.Buffer)
	}
	if b, err := s.Sensitive.RSA(); err == nil {
		clear(b.Buffer)
	}
	if b, err := s.Sensitive.Bits(); err == nil {
		clear(b.Buffer)
	}
}
