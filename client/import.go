package client

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

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

// ImportAESKey imports 32 raw key bytes as version 1 of an aes-256-gcm
// key: the TPM holds them as the version's root key, from which the
// working keys are derived (docs/PROTOCOL.md Appendix A). It accepts
// WithPIN, WithPCRs and ForUID.
func (c *Client) ImportAESKey(ctx context.Context, alias string, key []byte, opts ...CallOption) (*Key, error) {
	return c.importKey(ctx, "ImportAESKey", protocol.ImportKeyRequest{Alias: alias, Key: key, Algorithm: protocol.AlgAES256GCM}, opts)
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

// WithBackupTo makes a new key exportable to one backup TPM, named by its
// SRK public key (Status.SRKPublic of that machine, TPM2B_PUBLIC or PEM):
// ExportKey can then wrap it for that TPM, and for no other (GenerateKey).
// Without it a key never leaves its TPM.
func WithBackupTo(srkPublic []byte) CallOption {
	return func(o *callOptions) { o.set |= optBackupTo; o.backupTo = srkPublic }
}

// Exportable makes a new key exportable to the backup TPM the agent's
// admin configured (backup.target in tpmkeyd.toml) (GenerateKey).
func Exportable() CallOption {
	return func(o *callOptions) { o.set |= optBackupTo; o.exportable = true }
}

// Exported is a key wrapped for its backup TPM (ExportKey), and what
// RestoreKey takes on that machine.
type Exported struct {
	Key      *Key
	Wrapped  protocol.WrappedKey       // an asymmetric key
	Versions []protocol.WrappedVersion // a symmetric key: every version, oldest first
}

// ExportKey returns an exportable key (made WithBackupTo or Exportable)
// wrapped for its backup TPM, whose SRK public key target names;
// RestoreKey on that machine imports it. It accepts ForUID (admins).
func (c *Client) ExportKey(ctx context.Context, alias string, target []byte, opts ...CallOption) (*Exported, error) {
	o, err := collect("ExportKey", optForUID, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.ExportKeyRequest{Alias: alias, Target: target, UID: o.uid}
	var resp protocol.ExportKeyResponse
	if err := c.roundTrip(ctx, protocol.OpExportKey, &req, &resp); err != nil {
		return nil, err
	}
	k, err := keyFromWire(&resp.Key)
	if err != nil {
		return nil, err
	}
	return &Exported{Key: k, Wrapped: resp.Wrapped, Versions: resp.Versions}, nil
}

// RestoreKey imports what ExportKey returned on another machine, under
// alias, keeping the key's id, versions, minimum decryption version and
// rotation period. It accepts ForUID (admins).
func (c *Client) RestoreKey(ctx context.Context, alias string, e *Exported, opts ...CallOption) (*Key, error) {
	o, err := collect("RestoreKey", optForUID, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.ImportKeyRequest{Alias: alias, KeyID: e.Key.ID, UID: o.uid}
	if len(e.Versions) > 0 {
		req.Algorithm, req.Versions = string(e.Key.Algorithm), e.Versions
		req.MinDecryptionVersion = e.Key.MinDecryptionVersion
		req.RotationPeriod = uint64(e.Key.RotationPeriod / time.Second)
	} else {
		w := e.Wrapped
		req.Wrapped = &w
	}
	var resp protocol.ImportKeyResponse
	if err := c.roundTrip(ctx, protocol.OpImportKey, &req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}
