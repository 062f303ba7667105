package tpm

import (
	"context"
	"crypto"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// CreateKey makes a new key under the SRK (not for Sealed). For HMACSHA256
// the key is a TPM-generated keyedhash object that never leaves the TPM
// unwrapped, and the returned crypto.PublicKey is nil: it has none.
func (t *TPM) CreateKey(ctx context.Context, spec KeySpec) (*Blob, crypto.PublicKey, error) {
	if spec.Algorithm == Sealed {
		return nil, nil, fmt.Errorf("tpm.CreateKey: %w: use Seal for sealed data", ErrInvalid)
	}
	tmpl, err := t.keyTemplate(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("tpm.CreateKey: %w", err)
	}
	b, err := t.create(ctx, tmpl, spec, nil)
	if err != nil {
		return nil, nil, err
	}
	if spec.Algorithm == HMACSHA256 {
		if _, err := parseBlob(b); err != nil {
			return nil, nil, fmt.Errorf("tpm.CreateKey: TPM returned %w", err)
		}
		return b, nil, nil
	}
	pub, err := PublicKey(b)
	if err != nil {
		return nil, nil, fmt.Errorf("tpm.CreateKey: TPM returned %w", err)
	}
	return b, pub, nil
}

// Seal makes a sealed data object holding secret (spec.Algorithm == Sealed).
func (t *TPM) Seal(ctx context.Context, secret []byte, spec KeySpec) (*Blob, error) {
	if spec.Algorithm != Sealed {
		return nil, fmt.Errorf("tpm.Seal: %w: algorithm %v, want sealed", ErrInvalid, spec.Algorithm)
	}
	if len(secret) == 0 || len(secret) > MaxSealedSize {
		return nil, fmt.Errorf("tpm.Seal: %w: secret of %d bytes (1..%d)", ErrInvalid, len(secret), MaxSealedSize)
	}
	tmpl, err := t.keyTemplate(spec)
	if err != nil {
		return nil, fmt.Errorf("tpm.Seal: %w", err)
	}
	return t.create(ctx, tmpl, spec, secret)
}

// create runs TPM2_Create under the SRK. A PIN or sealed data travel
// encrypted by the salted session.
func (t *TPM) create(ctx context.Context, tmpl tpm2.TPMTPublic, spec KeySpec, data []byte) (*Blob, error) {
	sens := tpm2.TPMSSensitiveCreate{UserAuth: tpm2.TPM2BAuth{Buffer: spec.PIN}}
	if data != nil {
		sens.Data = tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: data})
	}
	var blob *Blob
	err := t.do(ctx, "tpm2.Create", func(tr transport.TPM) error {
		if len(spec.PCRs) > 0 {
			digest, err := policyDigest(tr, spec.PCRs, len(spec.PIN) > 0)
			if err != nil {
				return err
			}
			tmpl.AuthPolicy = tpm2.TPM2BDigest{Buffer: digest}
		}
		var extra []tpm2.Session
		if len(spec.PIN) > 0 || data != nil {
			s, err := t.sessionLocked()
			if err != nil {
				return err
			}
			extra = append(extra, s.use(nil, false, true))
		}
		rsp, err := tpm2.Create{
			ParentHandle: t.srk.named(),
			InSensitive:  tpm2.TPM2BSensitiveCreate{Sensitive: &sens},
			InPublic:     tpm2.New2B(tmpl),
		}.Execute(tr, extra...)
		if err != nil {
			return err
		}
		blob = &Blob{
			Public:     tpm2.Marshal(rsp.OutPublic),
			Private:    tpm2.Marshal(rsp.OutPrivate),
			ParentName: slices.Clone(t.srk.name.Buffer),
		}
		return nil
	})
	return blob, err
}

// keyTemplate checks spec and returns a public template carrying exactly
// the attributes its purposes need.
func (t *TPM) keyTemplate(spec KeySpec) (tpm2.TPMTPublic, error) {
	if err := checkKeySpec(spec); err != nil {
		return tpm2.TPMTPublic{}, err
	}
	if !t.algs[spec.Algorithm] {
		return tpm2.TPMTPublic{}, fmt.Errorf("%w: this TPM cannot make %v keys", ErrUnsupported, spec.Algorithm)
	}
	attrs := tpm2.TPMAObject{
		FixedTPM:     true,
		FixedParent:  true,
		UserWithAuth: len(spec.PCRs) == 0,
		NoDA:         len(spec.PIN) == 0,
	}
	pub := tpm2.TPMTPublic{NameAlg: tpm2.TPMAlgSHA256}
	if len(spec.ExportTo) > 0 {
		if err := exportable(&attrs, &pub, spec); err != nil {
			return tpm2.TPMTPublic{}, err
		}
	}
	switch {
	case spec.Algorithm == Sealed:
		pub.Type = tpm2.TPMAlgKeyedHash
		pub.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
		})
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{})
	case spec.Algorithm == HMACSHA256:
		// The TPM draws the key (sensitiveDataOrigin); sign is the
		// attribute TPM2_HMAC and TPM2_HMAC_Start require.
		attrs.SensitiveDataOrigin = true
		attrs.SignEncrypt = true
		pub.Type = tpm2.TPMAlgKeyedHash
		pub.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{
				Scheme:  tpm2.TPMAlgHMAC,
				Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256}),
			},
		})
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{})
	case spec.Algorithm.isECC():
		attrs.SensitiveDataOrigin = true
		attrs.SignEncrypt = spec.Purposes&PurposeSign != 0
		attrs.Decrypt = spec.Purposes&PurposeAgree != 0
		curve := tpm2.TPMECCNistP256
		if spec.Algorithm == ECCP384 {
			curve = tpm2.TPMECCNistP384
		}
		pub.Type = tpm2.TPMAlgECC
		pub.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
			CurveID:   curve,
			KDF:       tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		})
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{})
	default:
		attrs.SensitiveDataOrigin = true
		attrs.SignEncrypt = spec.Purposes&PurposeSign != 0
		attrs.Decrypt = spec.Purposes&PurposeDecrypt != 0
		bits := 2048
		if spec.Algorithm == RSA3072 {
			bits = 3072
		}
		// Scheme NULL: each Sign picks PKCS#1 v1.5 or PSS, each Decrypt
		// picks OAEP or RSAES.
		pub.Type = tpm2.TPMAlgRSA
		pub.Parameters = tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
			KeyBits:   tpm2.TPMKeyBits(bits),
		})
		pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{})
	}
	pub.ObjectAttributes = attrs
	return pub, nil
}

// checkKeySpec refuses purposes the algorithm can't serve, long PINs and
// bad PCR indexes, before the TPM is asked anything.
func checkKeySpec(spec KeySpec) error {
	if len(spec.PIN) > MaxPINSize {
		return fmt.Errorf("%w: PIN longer than %d bytes", ErrInvalid, MaxPINSize)
	}
	if err := checkPCRs(spec.PCRs); err != nil {
		return err
	}
	switch {
	case spec.Algorithm == Sealed:
		return nil
	case spec.Algorithm == HMACSHA256:
		if spec.Purposes != PurposeMAC {
			return fmt.Errorf("%w: %v keys only MAC, not purposes %#x", ErrPurpose, spec.Algorithm, spec.Purposes)
		}
	case spec.Algorithm.isECC():
		if spec.Purposes == 0 || spec.Purposes&^(PurposeSign|PurposeAgree) != 0 {
			return fmt.Errorf("%w: %v keys sign or agree (ECDH), not purposes %#x", ErrPurpose, spec.Algorithm, spec.Purposes)
		}
	case spec.Algorithm.isRSA():
		if spec.Purposes == 0 || spec.Purposes&^(PurposeSign|PurposeDecrypt) != 0 {
			return fmt.Errorf("%w: %v keys sign or decrypt, not purposes %#x", ErrPurpose, spec.Algorithm, spec.Purposes)
		}
	default:
		return fmt.Errorf("%w: algorithm %d", ErrUnsupported, spec.Algorithm)
	}
	return nil
}
