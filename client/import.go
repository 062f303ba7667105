package client

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// ImportKey imports a private key, given as PKCS #8, SEC1 or PKCS #1, in
// DER or PEM (unencrypted): EC P-256 or P-384, RSA-2048 or RSA-3072. The
// agent wraps it for its TPM's SRK and imports it; from then on the TPM
// holds it, and the agent keeps no plaintext. The caller should wipe
// keyDER afterwards. It accepts WithPurposes (default sign), WithPIN,
// WithPCRs and ForUID (admins).
func (c *Client) ImportKey(ctx context.Context, alias string, keyDER []byte, opts ...CallOption) (*Key, error) {
	return c.importKey(ctx, "ImportKey", protocol.ImportKeyRequest{Alias: alias, Key: keyDER}, opts)
}

// ImportPrivateKey imports an *ecdsa.PrivateKey or *rsa.PrivateKey (as
// ImportKey does its PKCS #8 encoding).
func (c *Client) ImportPrivateKey(ctx context.Context, alias string, key crypto.Signer, opts ...CallOption) (*Key, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("client.ImportPrivateKey: %w: %w", ErrUnsupported, err)
	}
	defer clear(der)
	return c.importKey(ctx, "ImportPrivateKey", protocol.ImportKeyRequest{Alias: alias, Key: der}, opts)
}

// ImportHMACKey imports the raw bytes (16 to 64) of an HMAC-SHA256 key,
// as version 1 of an hmac-sha256 key. It accepts WithPIN, WithPCRs and
// ForUID.
func (c *Client) ImportHMACKey(ctx context.Context, alias string, key []byte, opts ...CallOption) (*Key, error) {
	return c.importKey(ctx, "ImportHMACKey", protocol.ImportKeyRequest{Alias: alias, Key: key, Algorithm: protocol.AlgHMACSHA256}, opts)
}

// ImportWrapped imports a key wrapped for this agent's SRK elsewhere
// (tpm2_duplicate, `tpmkey wrap`, ExportKey); its purposes and PIN come
// with it. It accepts ForUID (admins).
func (c *Client) ImportWrapped(ctx context.Context, alias string, w protocol.WrappedKey, opts ...CallOption) (*Key, error) {
	o, err := collect("ImportWrapped", optForUID, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.ImportKeyRequest{Alias: alias, Wrapped: &w, UID: o.uid}
	var resp protocol.ImportKeyResponse
	if err := c.roundTrip(ctx, protocol.OpImportKey, &req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}

func (c *Client) importKey(ctx context.Context, op string, req protocol.ImportKeyRequest, opts []CallOption) (*Key, error) {
	o, err := collect(op, optPurposes|optPIN|optPCRs|optForUID, opts)
	if err != nil {
		return nil, err
	}
	req.Purposes, req.PIN, req.PCRs, req.UID = o.purposes, o.pin, o.pcrs, o.uid
	var resp protocol.ImportKeyResponse
	if err := c.roundTrip(ctx, protocol.OpImportKey, &req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}
