package tpm

import (
	"context"
	"crypto"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// SignOptions say how to sign. Hash is required: a zero Hash is refused
// rather than guessed, since the digest was made with some hash.
type SignOptions struct {
	Hash crypto.Hash // the hash digest was made with: SHA-256, SHA-384 or SHA-512
	PSS  bool        // RSA only: PSS (salt length = hash length) instead of PKCS#1 v1.5
}

// HashFunc lets SignOptions stand where a crypto.SignerOpts is expected.
func (o SignOptions) HashFunc() crypto.Hash { return o.Hash }

var _ crypto.SignerOpts = SignOptions{}

// Sign signs digest (already hashed with o.Hash). ECDSA returns ASN.1 DER;
// RSA returns PKCS#1 v1.5 or, with o.PSS, PSS. A cached key without PIN
// or policy costs exactly one TPM2_Sign.
func (t *TPM) Sign(ctx context.Context, b *Blob, a Auth, digest []byte, o SignOptions) ([]byte, error) {
	h := o.Hash
	p, err := t.use(b, a, PurposeSign)
	if err != nil {
		return nil, fmt.Errorf("tpm.Sign: %w", err)
	}
	scheme, err := t.sigScheme(p, h, o.PSS)
	if err != nil {
		return nil, fmt.Errorf("tpm.Sign: %w", err)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("tpm.Sign: %w: digest of %d bytes for %v", ErrInvalid, len(digest), h)
	}
	if !p.hasPIN && !p.hasPolicy {
		// Encoded here, before the TPM's turn: only the exchange waits.
		return t.signPassword(ctx, p, appendSignCmd(make([]byte, 0, 64+len(digest)), digest, scheme.Scheme, hashAlg(h)))
	}
	var sig tpm2.TPMTSignature
	err = t.withKey(ctx, "tpm2.Sign", p, a, false, false, func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error {
		rsp, err := tpm2.Sign{
			KeyHandle:  ah,
			Digest:     tpm2.TPM2BDigest{Buffer: digest},
			InScheme:   scheme,
			Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
		}.Execute(tr, extra...)
		if err == nil {
			sig = rsp.Signature
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return encodeSignature(&sig)
}

// signPassword is the hot path: a key authorized by the empty password,
// signed with a command encoded before the TPM's turn; the turn covers only
// the (cached) load and the exchange with the TPM.
func (t *TPM) signPassword(ctx context.Context, p *parsedBlob, cmd []byte) ([]byte, error) {
	var params []byte
	err := t.do(ctx, "tpm2.Sign", func(tr transport.TPM) error {
		k, err := t.loadLocked(tr, p)
		if err != nil {
			return err
		}
		setSignKey(cmd, k.handle)
		_, params, err = sendRaw(tr, cmd, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	sig, err := parseSignRsp(params)
	if err != nil {
		return nil, fmt.Errorf("tpm.Sign: %w", err)
	}
	return encodeRawSignature(sig), nil
}

func (t *TPM) sigScheme(p *parsedBlob, h crypto.Hash, pss bool) (tpm2.TPMTSigScheme, error) {
	if !signHashes[h] {
		return tpm2.TPMTSigScheme{}, fmt.Errorf("%w: hash %v", ErrInvalid, h)
	}
	if !t.hashes[h] {
		return tpm2.TPMTSigScheme{}, fmt.Errorf("%w: this TPM lacks %v", ErrUnsupported, h)
	}
	alg := tpm2.TPMAlgRSASSA
	switch {
	case p.alg.isECC() && pss:
		return tpm2.TPMTSigScheme{}, fmt.Errorf("%w: PSS with an ECC key", ErrInvalid)
	case p.alg.isECC():
		alg = tpm2.TPMAlgECDSA
	case pss:
		alg = tpm2.TPMAlgRSAPSS
	}
	return tpm2.TPMTSigScheme{
		Scheme:  alg,
		Details: tpm2.NewTPMUSigScheme(alg, &tpm2.TPMSSchemeHash{HashAlg: hashAlg(h)}),
	}, nil
}

// encodeSignature turns a TPMT_SIGNATURE into Go's formats: DER for ECDSA,
// the raw signature for RSA.
func encodeSignature(sig *tpm2.TPMTSignature) ([]byte, error) {
	switch sig.SigAlg {
	case tpm2.TPMAlgECDSA:
		e, err := sig.Signature.ECDSA()
		if err != nil {
			return nil, fmt.Errorf("tpm.Sign: %w", err)
		}
		return asn1.Marshal(struct{ R, S *big.Int }{
			new(big.Int).SetBytes(e.SignatureR.Buffer),
			new(big.Int).SetBytes(e.SignatureS.Buffer),
		})
	case tpm2.TPMAlgRSASSA:
		r, err := sig.Signature.RSASSA()
		if err != nil {
			return nil, fmt.Errorf("tpm.Sign: %w", err)
		}
		return r.Sig.Buffer, nil
	case tpm2.TPMAlgRSAPSS:
		r, err := sig.Signature.RSAPSS()
		if err != nil {
			return nil, fmt.Errorf("tpm.Sign: %w", err)
		}
		return r.Sig.Buffer, nil
	}
	return nil, fmt.Errorf("tpm.Sign: unexpected signature algorithm %v", sig.SigAlg)
}
