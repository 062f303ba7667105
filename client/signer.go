package client

import (
	"context"
	"crypto"
	"crypto/rsa"
	"fmt"
	"io"
)

var (
	_ crypto.Signer    = (*signer)(nil)
	_ crypto.Decrypter = (*decrypter)(nil)
)

// signer is a TPM key seen as a crypto.Signer. crypto.Signer has no context:
// each Sign uses the values of the context given to Signer, without its
// cancellation, so that a Signer outlives the call that made it.
type signer struct {
	c     *Client
	ctx   context.Context
	key   *Key
	pin   []byte
	isRSA bool
}

// Signer returns alias's key as a crypto.Signer, for crypto/tls,
// crypto/x509 and the like. It fetches the public key once, now. Sign honours
// the hash of its crypto.SignerOpts and, for RSA keys, *rsa.PSSOptions (the
// salt is always as long as the hash: PSSSaltLengthEqualsHash, an explicit
// length equal to the hash size, or PSSSaltLengthAuto, which a verifier
// accepts; any other length fails with ErrUnsupported). ctx bounds the fetch
// only: a Sign is not cancelled with it (close the Client to abort). It
// accepts WithPIN.
func (c *Client) Signer(ctx context.Context, alias string, opts ...CallOption) (crypto.Signer, error) {
	o, err := collect("Signer", optPIN, opts)
	if err != nil {
		return nil, err
	}
	k, err := c.Key(ctx, alias)
	if err != nil {
		return nil, err
	}
	if k.PublicKey == nil {
		return nil, fmt.Errorf("Signer: %q is a %s, not a key pair: %w", alias, k.Algorithm, ErrIncompatiblePurpose)
	}
	_, isRSA := k.PublicKey.(*rsa.PublicKey)
	return &signer{c: c, ctx: context.WithoutCancel(ctx), key: k, pin: o.pin, isRSA: isRSA}, nil
}

func (s *signer) Public() crypto.PublicKey { return s.key.PublicKey }

func (s *signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	hash := opts.HashFunc()
	if hash == 0 {
		return nil, fmt.Errorf("%w: signing an unhashed message", ErrUnsupported)
	}
	if len(digest) != hash.Size() {
		return nil, fmt.Errorf("%w: digest of %d bytes for %v, want %d", ErrBadRequest, len(digest), hash, hash.Size())
	}
	callOpts := []CallOption{WithPIN(s.pin)}
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		if !s.isRSA {
			return nil, fmt.Errorf("%w: PSS options for a %s key", ErrUnsupported, s.key.Algorithm)
		}
		switch pss.SaltLength {
		case rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto, hash.Size():
		default:
			return nil, fmt.Errorf("%w: PSS salt length %d: the TPM uses the hash length (%d)",
				ErrUnsupported, pss.SaltLength, hash.Size())
		}
		callOpts = append(callOpts, WithPSS())
	}
	return s.c.Sign(s.ctx, s.key.Alias, hash, digest, callOpts...)
}

// decrypter is a TPM RSA key seen as a crypto.Decrypter.
type decrypter struct {
	c   *Client
	ctx context.Context
	key *Key
	pin []byte
}

// Decrypter returns alias's RSA key as a crypto.Decrypter. Decrypt takes
// *rsa.OAEPOptions with SHA-256 (MGF1 SHA-256, no label), or nil or
// *rsa.PKCS1v15DecryptOptions (without SessionKeyLen) for PKCS #1 v1.5;
// anything else fails with ErrUnsupported. ctx bounds the fetch only, as for
// Signer. It accepts WithPIN.
func (c *Client) Decrypter(ctx context.Context, alias string, opts ...CallOption) (crypto.Decrypter, error) {
	o, err := collect("Decrypter", optPIN, opts)
	if err != nil {
		return nil, err
	}
	k, err := c.Key(ctx, alias)
	if err != nil {
		return nil, err
	}
	if _, ok := k.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("Decrypter: %q is a %s key, not RSA: %w", alias, k.Algorithm, ErrIncompatiblePurpose)
	}
	return &decrypter{c: c, ctx: context.WithoutCancel(ctx), key: k, pin: o.pin}, nil
}

func (d *decrypter) Public() crypto.PublicKey { return d.key.PublicKey }

func (d *decrypter) Decrypt(_ io.Reader, msg []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	callOpts := []CallOption{WithPIN(d.pin)}
	switch o := opts.(type) {
	case nil:
		callOpts = append(callOpts, WithPKCS1v15())
	case *rsa.PKCS1v15DecryptOptions:
		if o.SessionKeyLen != 0 {
			return nil, fmt.Errorf("%w: PKCS #1 v1.5 SessionKeyLen", ErrUnsupported)
		}
		callOpts = append(callOpts, WithPKCS1v15())
	case *rsa.OAEPOptions:
		if o.Hash != crypto.SHA256 || (o.MGFHash != 0 && o.MGFHash != crypto.SHA256) || len(o.Label) > 0 {
			return nil, fmt.Errorf("%w: OAEP with hash %v, MGF hash %v and a %d-byte label: only SHA-256 without a label",
				ErrUnsupported, o.Hash, o.MGFHash, len(o.Label))
		}
	default:
		return nil, fmt.Errorf("%w: decrypter options %T", ErrUnsupported, opts)
	}
	return d.c.Decrypt(d.ctx, d.key.Alias, msg, callOpts...)
}
