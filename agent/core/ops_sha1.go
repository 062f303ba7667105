package core

import (
	"context"
	"crypto"
	"crypto/sha1"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// hashSHA1 is the hash name Sign takes for SHA-1, only with
// pkcs11_allow_sha1 and only for RSA PKCS #1 v1.5 (docs/PROTOCOL.md, Sign).
// It is no protocol hash name: Verify and every other operation refuse it.
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
	digest := m.Digest
	switch {
	case len(m.Digest) != 0 && len(m.Message) != 0:
		return nil, protocol.Errorf(protocol.StatusBadRequest, "give a digest or a message, not both")
	case len(m.Message) != 0:
		d := sha1.Sum(m.Message)
		digest = d[:]
	case len(digest) != sha1.Size:
		return nil, protocol.Errorf(protocol.StatusBadRequest, "a sha1 digest is %d bytes, got %d", sha1.Size, len(digest))
	}
	sig, err := c.tpm.Sign(ctx, &rec.Blob, call.auth(m.PIN), digest, tpm.SignOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, tpmErr(err)
	}
	return &protocol.SignResponse{Signature: sig}, nil
}
