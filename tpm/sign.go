package tpm

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Sign signs digest (already hashed with h). ECDSA returns ASN.1 DER; RSA
// returns PKCS#1 v1.5 or, with pss, PSS (salt length = hash length).
// A cached key without PIN or policy costs exactly one TPM2_Sign.
func (t *TPM) Sign(ctx context.Context, b *Blob, a Auth, digest []byte, h crypto.Hash, pss bool) ([]byte, error) {
	p, err := t.use(b, a, PurposeSign)
	if err != nil {
		return nil, fmt.Errorf("tpm.Sign: %w", err)
	}
	scheme, err := t.sigScheme(p, h, pss)
	if err != nil {
		return nil, fmt.Errorf("tpm.Sign: %w", err)
	}
	if len(digest) != h.Size() {
		return nil, fmt.Errorf("tpm.Sign: %w: digest of %d bytes for %v", ErrInvalid, len(digest), h)
	}
	if !p.hasPIN && !p.hasPolicy {
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
// signed with a command encoded before the TPM lock is taken; the lock
// covers only the (cached) load and the exchange with the TPM.
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

// Decrypt decrypts an RSA ciphertext. The plaintext comes back encrypted
// by the salted session.
func (t *TPM) Decrypt(ctx context.Context, b *Blob, a Auth, ciphertext []byte, s DecryptScheme) ([]byte, error) {
	p, err := t.use(b, a, PurposeDecrypt)
	if err != nil {
		return nil, fmt.Errorf("tpm.Decrypt: %w", err)
	}
	scheme := tpm2.TPMTRSADecrypt{Scheme: tpm2.TPMAlgOAEP,
		Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgOAEP, &tpm2.TPMSEncSchemeOAEP{HashAlg: tpm2.TPMAlgSHA256})}
	switch s {
	case OAEPSHA256:
	case PKCS1v15:
		scheme = tpm2.TPMTRSADecrypt{Scheme: tpm2.TPMAlgRSAES,
			Details: tpm2.NewTPMUAsymScheme(tpm2.TPMAlgRSAES, &tpm2.TPMSEncSchemeRSAES{})}
	default:
		return nil, fmt.Errorf("tpm.Decrypt: %w: scheme %d", ErrInvalid, s)
	}
	pub, _ := p.public.Unique.RSA()
	if len(ciphertext) != len(pub.Buffer) {
		return nil, fmt.Errorf("tpm.Decrypt: %w: ciphertext of %d bytes, want %d", ErrInvalid, len(ciphertext), len(pub.Buffer))
	}
	var out []byte
	err = t.withKey(ctx, "tpm2.RSA_Decrypt", p, a, true, false, func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error {
		rsp, err := tpm2.RSADecrypt{
			KeyHandle:  ah,
			CipherText: tpm2.TPM2BPublicKeyRSA{Buffer: ciphertext},
			InScheme:   scheme,
		}.Execute(tr, extra...)
		if err == nil {
			out = rsp.Message.Buffer
		}
		return err
	})
	// A ciphertext whose padding does not check out is bad input, not a TPM
	// fault: TPM_RC_VALUE on the parameter per Part 3, which libtpms
	// (swtpm) reports as TPM_RC_FAILURE while staying healthy.
	var f1 tpm2.TPMFmt1Error
	isParamValue := errors.As(err, &f1) && errors.Is(err, tpm2.TPMRCValue)
	if isParamValue || errors.Is(err, tpm2.TPMRCFailure) {
		return nil, fmt.Errorf("tpm.Decrypt: %w: ciphertext does not decrypt: %w", ErrInvalid, err)
	}
	return out, err
}

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
