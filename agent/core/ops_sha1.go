package core

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// hashSHA1 is the hash name Sign takes for SHA-1, only with
// pkcs11_allow_sha1 and only for RSA PKCS #1 v1.5 (docs/PROTOCOL.md, Sign).
// It is no protocol hash name: Verify takes it under the same switch, and
// every other operation refuses it.
const hashSHA1 = "sha1"

// signSHA1 is Sign with hash "sha1": refused unless the configuration
// allows it, then an RSA PKCS #1 v1.5 signature over the SHA-1 digest
// given (or of the message given).
func (c *Core) signSHA1(ctx context.Context, call *Call, m *protocol.SignRequest) (*protocol.SignResponse, error) {
	rec := call.key
	if !call.st.cfg.PKCS11AllowSHA1 {
		return nil, fmt.Errorf("sign with %q: %w", rec.Alias, ErrSignSHA1)
	}
	if alg, _ := algFromWire(rec.Algorithm); !isRSA(alg) || m.PSS {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "sha1 applies to RSA PKCS #1 v1.5 signatures only")
	}
	digest, err := sha1Digest(m.Digest, m.Message)
	if err != nil {
		return nil, err
	}
	sig, err := c.tpm.Sign(ctx, &rec.Blob, call.auth(m.PIN), digest, tpm.SignOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, tpmErr(err)
	}
	return &protocol.SignResponse{Signature: sig}, nil
}

// verifySHA1 is Verify with hash "sha1", under the same switch as
// signSHA1: what the PKCS#11 token signs with it, it can check.
func (c *Core) verifySHA1(call *Call, m *protocol.VerifyRequest) (*protocol.VerifyResponse, error) {
	rec := call.key
	if !call.st.cfg.PKCS11AllowSHA1 {
		return nil, fmt.Errorf("verify with %q: %w", rec.Alias, ErrSignSHA1)
	}
	if alg, _ := algFromWire(rec.Algorithm); !isRSA(alg) || m.PSS {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "sha1 applies to RSA PKCS #1 v1.5 signatures only")
	}
	digest, err := sha1Digest(m.Digest, m.Message)
	if err != nil {
		return nil, err
	}
	pub, err := publicKey(rec)
	if err != nil {
		return nil, err
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("verify with %q: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	return &protocol.VerifyResponse{Valid: rsa.VerifyPKCS1v15(k, crypto.SHA1, digest, m.Signature) == nil}, nil
}

// sha1Digest is the SHA-1 digest given, or that of the message given.
func sha1Digest(digest, message []byte) ([]byte, error) {
	switch {
	case len(digest) != 0 && len(message) != 0:
		return nil, protocol.Errorf(protocol.StatusBadRequest, "give a digest or a message, not both")
	case len(message) != 0:
		d := sha1.Sum(message)
		return d[:], nil
	case len(digest) != sha1.Size:
		return nil, protocol.Errorf(protocol.StatusBadRequest, "a sha1 digest is %d bytes, got %d", sha1.Size, len(digest))
	}
	return digest, nil
}
