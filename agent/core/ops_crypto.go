package core

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

func (c *Core) sign(ctx context.Context, call *Call, m *protocol.SignRequest) (*protocol.SignResponse, error) {
	rec := call.key
	if m.Hash == hashSHA1 {
		return c.signSHA1(ctx, call, m)
	}
	h, digest, err := signInput(rec, m.Hash, m.PSS, m.Digest, m.Message)
	if err != nil {
		return nil, err
	}
	sig, err := c.tpm.Sign(ctx, &rec.Blob, call.auth(m.PIN), digest, tpm.SignOptions{Hash: h, PSS: m.PSS})
	if err != nil {
		return nil, tpmErr(err)
	}
	return &protocol.SignResponse{Signature: sig}, nil
}

// verify checks a signature in software, against the stored public key.
func (c *Core) verify(_ context.Context, call *Call, m *protocol.VerifyRequest) (*protocol.VerifyResponse, error) {
	rec := call.key
	if m.Hash == hashSHA1 {
		return c.verifySHA1(call, m)
	}
	h, digest, err := signInput(rec, m.Hash, m.PSS, m.Digest, m.Message)
	if err != nil {
		return nil, err
	}
	pub, err := publicKey(rec)
	if err != nil {
		return nil, err
	}
	var valid bool
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		valid = ecdsa.VerifyASN1(k, digest, m.Signature)
	case *rsa.PublicKey:
		if m.PSS {
			valid = rsa.VerifyPSS(k, h, digest, m.Signature, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
		} else {
			valid = rsa.VerifyPKCS1v15(k, h, digest, m.Signature) == nil
		}
	}
	return &protocol.VerifyResponse{Valid: valid}, nil
}

// signInput is what Sign and Verify share: the checks of the scheme
// against rec's key, the hash, and the digest, hashed here from a message
// if need be (outside the TPM's turn).
func signInput(rec *store.Record, hash string, pss bool, digest, message []byte) (crypto.Hash, []byte, error) {
	if alg, _ := algFromWire(rec.Algorithm); pss && !isRSA(alg) {
		return 0, nil, protocol.Errorf(protocol.StatusBadRequest, "pss applies to RSA keys only")
	}
	h, err := hashFromWire(hash)
	if err != nil {
		return 0, nil, err
	}
	d, err := digestOf(h, digest, message)
	if err != nil {
		return 0, nil, err
	}
	return h, d, nil
}

// paddingName is the wire name of padding, with the default filled in.
func paddingName(padding string) string {
	if padding == "" {
		return protocol.PaddingOAEPSHA256
	}
	return padding
}

func decryptScheme(padding string) (tpm.DecryptScheme, error) {
	switch padding {
	case protocol.PaddingOAEPSHA256, "":
		return tpm.OAEPSHA256, nil
	case protocol.PaddingPKCS1v15:
		return tpm.PKCS1v15, nil
	}
	return 0, protocol.Errorf(protocol.StatusBadRequest, "unknown padding %q", padding)
}

func (c *Core) decrypt(ctx context.Context, call *Call, m *protocol.DecryptRequest) (*protocol.DecryptResponse, error) {
	rec := call.key
	scheme, err := decryptScheme(m.Padding)
	if err != nil {
		return nil, err
	}
	if err := checkCiphertext(rec, m.Ciphertext); err != nil {
		return nil, err
	}
	pt, err := c.tpm.Decrypt(ctx, &rec.Blob, call.auth(m.PIN), m.Ciphertext, scheme)
	if errors.Is(err, tpm.ErrInvalid) {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "ciphertext does not decrypt with key %q (%s)", m.Alias, paddingName(m.Padding))
	}
	if err != nil {
		return nil, tpmErr(err)
	}
	call.Sensitive = true
	call.wipe(pt)
	return &protocol.DecryptResponse{Plaintext: pt}, nil
}

// encrypt encrypts in software to the stored public key.
func (c *Core) encrypt(_ context.Context, call *Call, m *protocol.EncryptRequest) (*protocol.EncryptResponse, error) {
	rec := call.key
	scheme, err := decryptScheme(m.Padding)
	if err != nil {
		return nil, err
	}
	pub, err := publicKey(rec)
	if err != nil {
		return nil, err
	}
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("encrypt to %q: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	var ct []byte
	if scheme == tpm.PKCS1v15 {
		ct, err = rsa.EncryptPKCS1v15(rand.Reader, k, m.Plaintext)
	} else {
		ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, k, m.Plaintext, nil)
	}
	if err != nil {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "plaintext too long for this key")
	}
	return &protocol.EncryptResponse{Ciphertext: ct}, nil
}

func (c *Core) ecdh(ctx context.Context, call *Call, m *protocol.ECDHRequest) (*protocol.ECDHResponse, error) {
	rec := call.key
	peer, err := peerKey(rec, m.PeerPublicKey)
	if err != nil {
		return nil, err
	}
	secret, err := c.tpm.ECDH(ctx, &rec.Blob, call.auth(m.PIN), peer)
	if err != nil {
		return nil, tpmErr(err)
	}
	call.Sensitive = true
	call.wipe(secret)
	return &protocol.ECDHResponse{SharedSecret: secret}, nil
}
