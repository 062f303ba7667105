package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// AlgAES256GCM is a symmetric key with versions for authenticated
// encryption (AEADEncrypt, AEADDecrypt, GenerateDataKey, ReEncrypt); its
// working keys are derived inside the TPM.
const AlgAES256GCM Algorithm = protocol.AlgAES256GCM

// PurposeEncrypt is the purpose of aes-256-gcm keys.
const PurposeEncrypt Purpose = protocol.PurposeEncrypt

// WithRotationPeriod makes the agent add a version to a new symmetric key
// by itself, at its first use after the newest version is d old
// (GenerateKey). d is counted in whole seconds.
func WithRotationPeriod(d time.Duration) CallOption {
	return func(o *callOptions) { o.set |= optRotationPeriod; o.rotation = d }
}

// WithToPIN is the PIN of ReEncrypt's destination key (WithPIN is the
// source key's).
func WithToPIN(pin []byte) CallOption {
	return func(o *callOptions) { o.set |= optToPIN; o.toPIN = pin }
}

// checkAEADSize refuses, before anything is sent, a plaintext whose
// ciphertext would not fit in the agent's frame.
func (c *Client) checkAEADSize(op string, n int) error {
	if limit := int(c.maxFrame.Load()) - protocol.AEADOverhead - 256; n > limit {
		return fmt.Errorf("client.%s: %w: plaintext of %d bytes, the agent encrypts at most %d in one request; "+
			"encrypt large data with a data key (GenerateDataKey) or the streaming format (tpmkey encrypt)", op, ErrFrameTooLarge, n, limit)
	}
	return nil
}

// AEADEncrypt encrypts plaintext with the newest enabled version of
// alias's aes-256-gcm key, binding encCtx (the encryption context, which is
// not secret: the agent writes it to its audit log). The same context must
// be given to decrypt. The ciphertext is self-describing (docs/PROTOCOL.md,
// "Appendix: AEAD ciphertext"). It accepts WithPIN.
func (c *Client) AEADEncrypt(ctx context.Context, alias string, plaintext []byte, encCtx map[string]string, opts ...CallOption) ([]byte, error) {
	o, err := collect("AEADEncrypt", optPIN, opts)
	if err != nil {
		return nil, err
	}
	if err := c.checkAEADSize("AEADEncrypt", len(plaintext)); err != nil {
		return nil, err
	}
	req := protocol.AEADEncryptRequest{Alias: alias, Plaintext: plaintext, Context: encCtx, PIN: o.pin}
	var resp protocol.AEADEncryptResponse
	if err := c.roundTrip(ctx, protocol.OpAEADEncrypt, &req, &resp); err != nil {
		return nil, err
	}
	return resp.Ciphertext, nil
}

// AEADDecrypt decrypts a ciphertext of AEADEncrypt (or of GenerateDataKey,
// ReEncrypt) with the context it was made with. The key is the one the
// ciphertext names, among the caller's keys. A wrong context or a damaged
// ciphertext is ErrDecryptFailed; a disabled or retired key version is
// ErrKeyVersionDisabled. It accepts WithPIN and ForUID.
func (c *Client) AEADDecrypt(ctx context.Context, ciphertext []byte, encCtx map[string]string, opts ...CallOption) ([]byte, error) {
	resp, err := c.aeadDecrypt(ctx, ciphertext, encCtx, opts)
	if err != nil {
		return nil, err
	}
	return resp.Plaintext, nil
}

func (c *Client) aeadDecrypt(ctx context.Context, ciphertext []byte, encCtx map[string]string, opts []CallOption) (*protocol.AEADDecryptResponse, error) {
	o, err := collect("AEADDecrypt", optPIN|optForUID, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.AEADDecryptRequest{Ciphertext: ciphertext, Context: encCtx, PIN: o.pin, UID: o.uid}
	var resp protocol.AEADDecryptResponse
	if err := c.roundTrip(ctx, protocol.OpAEADDecrypt, &req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// GenerateDataKey returns n (16..64) fresh random bytes from the agent, a
// data key, in the clear and as an AEAD ciphertext under alias bound to
// encCtx: encrypt with the plaintext key, wipe it, keep the ciphertext,
// and get the key back with AEADDecrypt. It accepts WithPIN.
func (c *Client) GenerateDataKey(ctx context.Context, alias string, n int, encCtx map[string]string, opts ...CallOption) (plaintext, ciphertext []byte, err error) {
	resp, err := c.generateDataKey(ctx, "GenerateDataKey", alias, n, encCtx, false, opts)
	if err != nil {
		return nil, nil, err
	}
	return resp.Plaintext, resp.Ciphertext, nil
}

// GenerateDataKeyWithoutPlaintext is GenerateDataKey returning only the
// ciphertext, for a data key that another process will decrypt and use.
func (c *Client) GenerateDataKeyWithoutPlaintext(ctx context.Context, alias string, n int, encCtx map[string]string, opts ...CallOption) ([]byte, error) {
	resp, err := c.generateDataKey(ctx, "GenerateDataKeyWithoutPlaintext", alias, n, encCtx, true, opts)
	if err != nil {
		return nil, err
	}
	return resp.Ciphertext, nil
}

func (c *Client) generateDataKey(ctx context.Context, op, alias string, n int, encCtx map[string]string, noPlaintext bool, opts []CallOption) (*protocol.GenerateDataKeyResponse, error) {
	o, err := collect(op, optPIN, opts)
	if err != nil {
		return nil, err
	}
	if n < protocol.MinDataKeyBytes || n > protocol.MaxDataKeyBytes {
		return nil, fmt.Errorf("client.%s: %w: %d bytes, want %d..%d", op, ErrBadRequest, n, protocol.MinDataKeyBytes, protocol.MaxDataKeyBytes)
	}
	req := protocol.GenerateDataKeyRequest{Alias: alias, Bytes: uint(n), Context: encCtx, NoPlaintext: noPlaintext, PIN: o.pin}
	var resp protocol.GenerateDataKeyResponse
	if err := c.roundTrip(ctx, protocol.OpGenerateDataKey, &req, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// ReEncrypt decrypts ciphertext (with fromCtx) and encrypts its plaintext
// under toAlias's newest version (with toCtx) inside the agent: the
// plaintext never reaches the caller. Use it to move data to a newer key
// version or to another key. It accepts WithPIN (the source key's) and
// WithToPIN (the destination's).
func (c *Client) ReEncrypt(ctx context.Context, ciphertext []byte, fromCtx map[string]string, toAlias string, toCtx map[string]string, opts ...CallOption) ([]byte, error) {
	o, err := collect("ReEncrypt", optPIN|optToPIN, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.ReEncryptRequest{Ciphertext: ciphertext, FromContext: fromCtx, ToAlias: toAlias, ToContext: toCtx,
		PIN: o.pin, ToPIN: o.toPIN}
	var resp protocol.ReEncryptResponse
	if err := c.roundTrip(ctx, protocol.OpReEncrypt, &req, &resp); err != nil {
		return nil, err
	}
	return resp.Ciphertext, nil
}

func (c *Client) setKeyVersion(ctx context.Context, req *protocol.SetKeyVersionRequest) (*Key, error) {
	var resp protocol.SetKeyVersionResponse
	if err := c.roundTrip(ctx, protocol.OpSetKeyVersion, req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}

// DisableKeyVersion disables version n of alias's symmetric key: it no
// longer encrypts, decrypts, makes or verifies MACs. The agent refuses to
// disable the only enabled version.
func (c *Client) DisableKeyVersion(ctx context.Context, alias string, n uint32) (*Key, error) {
	return c.setKeyVersion(ctx, &protocol.SetKeyVersionRequest{Alias: alias, Version: n, State: protocol.VersionDisabled})
}

// EnableKeyVersion enables version n of alias's symmetric key again.
func (c *Client) EnableKeyVersion(ctx context.Context, alias string, n uint32) (*Key, error) {
	return c.setKeyVersion(ctx, &protocol.SetKeyVersionRequest{Alias: alias, Version: n, State: protocol.VersionEnabled})
}

// SetMinDecryptionVersion sets the oldest version of alias's symmetric key
// that still decrypts and verifies.
func (c *Client) SetMinDecryptionVersion(ctx context.Context, alias string, n uint32) (*Key, error) {
	return c.setKeyVersion(ctx, &protocol.SetKeyVersionRequest{Alias: alias, MinDecryptionVersion: &n})
}

// SetRotationPeriod sets how often the agent rotates alias's symmetric key
// by itself (0: never), in whole seconds.
func (c *Client) SetRotationPeriod(ctx context.Context, alias string, d time.Duration) (*Key, error) {
	s := uint64(d / time.Second)
	return c.setKeyVersion(ctx, &protocol.SetKeyVersionRequest{Alias: alias, RotationPeriod: &s})
}

// AEADContextKey is the encryption-context key under which AEAD puts its
// associated data, base64-encoded (RFC 4648 standard alphabet, padded).
const AEADContextKey = "associated_data"

// AEAD is alias's aes-256-gcm key as an AEAD whose method set is exactly
// Tink's tink.AEAD, so that it drops into code written for Tink. Its
// associated data is bound as the encryption context
// {AEADContextKey: base64(associatedData)}; empty or nil associated data
// is the empty context. Each call is one request, with no deadline.
type AEAD struct {
	c     *Client
	alias string
	opts  []CallOption
}

// AEAD returns alias's key as an AEAD. It accepts WithPIN.
func (c *Client) AEAD(alias string, opts ...CallOption) *AEAD {
	return &AEAD{c: c, alias: alias, opts: opts}
}

func adContext(ad []byte) map[string]string {
	if len(ad) == 0 {
		return nil
	}
	return map[string]string{AEADContextKey: base64.StdEncoding.EncodeToString(ad)}
}

// Encrypt encrypts plaintext, binding associatedData.
func (a *AEAD) Encrypt(plaintext, associatedData []byte) ([]byte, error) {
	return a.c.AEADEncrypt(context.Background(), a.alias, plaintext, adContext(associatedData), a.opts...)
}

// Decrypt decrypts ciphertext made by Encrypt with the same associated
// data. A ciphertext of another of the caller's keys is ErrDecryptFailed,
// as for a Tink AEAD of one key.
func (a *AEAD) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	resp, err := a.c.aeadDecrypt(context.Background(), ciphertext, adContext(associatedData), a.opts)
	if err != nil {
		return nil, err
	}
	if resp.Alias != a.alias {
		clear(resp.Plaintext)
		return nil, fmt.Errorf("client.AEAD.Decrypt: %w: the ciphertext is of key %q, not %q", ErrDecryptFailed, resp.Alias, a.alias)
	}
	return resp.Plaintext, nil
}
