package tpm

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

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
	// (swtpm) reports as TPM_RC_FAILURE while staying healthy. Every
	// TPM_RC_FAILURE is followed by a probe (see classifyLocked), so a TPM
	// really in failure mode arrives here as ErrTPMFailure, and stays so.
	if errors.Is(err, ErrTPMFailure) {
		return nil, err
	}
	var f1 tpm2.TPMFmt1Error
	isParamValue := errors.As(err, &f1) && errors.Is(err, tpm2.TPMRCValue)
	if isParamValue || errors.Is(err, tpm2.TPMRCFailure) {
		return nil, fmt.Errorf("tpm.Decrypt: %w: ciphertext does not decrypt: %w", ErrInvalid, err)
	}
	return out, err
}
