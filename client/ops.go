package client

import (
	"context"
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// maxRandomPerCall is the most GetRandom returns in one request.
const maxRandomPerCall = 1024

func hashName(h crypto.Hash) (string, error) {
	if name, ok := protocol.HashName(h); ok {
		return name, nil
	}
	return "", fmt.Errorf("%w: hash %v (want SHA-256, SHA-384 or SHA-512)", ErrUnsupported, h)
}

func padding(o callOptions) string {
	if o.pkcs1 {
		return protocol.PaddingPKCS1v15
	}
	return protocol.PaddingOAEPSHA256
}

// Sign signs digest, the hash of a message made with hash, with alias's key.
// ECDSA signatures are ASN.1 DER, RSA ones are PKCS #1 v1.5 unless WithPSS.
// It accepts WithPIN and WithPSS.
func (c *Client) Sign(ctx context.Context, alias string, hash crypto.Hash, digest []byte, opts ...CallOption) ([]byte, error) {
	name, err := hashName(hash)
	if err != nil {
		return nil, err
	}
	o, err := collect("Sign", optPIN|optPSS, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.SignRequest{Alias: alias, Digest: digest, Hash: name, PSS: o.pss, PIN: o.pin}
	var resp protocol.SignResponse
	if err := c.roundTrip(ctx, protocol.OpSign, &req, &resp); err != nil {
		return nil, err
	}
	return resp.Signature, nil
}

// Verify checks sig over digest with alias's public key (the agent does it
// in software). It accepts WithPSS.
func (c *Client) Verify(ctx context.Context, alias string, hash crypto.Hash, digest, sig []byte, opts ...CallOption) (bool, error) {
	name, err := hashName(hash)
	if err != nil {
		return false, err
	}
	o, err := collect("Verify", optPSS, opts)
	if err != nil {
		return false, err
	}
	req := protocol.VerifyRequest{Alias: alias, Digest: digest, Hash: name, PSS: o.pss, Signature: sig}
	var resp protocol.VerifyResponse
	if err := c.roundTrip(ctx, protocol.OpVerify, &req, &resp); err != nil {
		return false, err
	}
	return resp.Valid, nil
}

// Decrypt decrypts an RSA ciphertext with alias's key, OAEP with SHA-256
// unless WithPKCS1v15. It accepts WithPIN and WithPKCS1v15.
func (c *Client) Decrypt(ctx context.Context, alias string, ciphertext []byte, opts ...CallOption) ([]byte, error) {
	o, err := collect("Decrypt", optPIN|optPKCS1v15, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.DecryptRequest{Alias: alias, Ciphertext: ciphertext, Padding: padding(o), PIN: o.pin}
	var resp protocol.DecryptResponse
	if err := c.roundTrip(ctx, protocol.OpDecrypt, &req, &resp); err != nil {
		return nil, err
	}
	return resp.Plaintext, nil
}

// Encrypt encrypts plaintext to alias's RSA public key, OAEP with SHA-256
// unless WithPKCS1v15. It accepts WithPKCS1v15.
func (c *Client) Encrypt(ctx context.Context, alias string, plaintext []byte, opts ...CallOption) ([]byte, error) {
	o, err := collect("Encrypt", optPKCS1v15, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.EncryptRequest{Alias: alias, Plaintext: plaintext, Padding: padding(o)}
	var resp protocol.EncryptResponse
	if err := c.roundTrip(ctx, protocol.OpEncrypt, &req, &resp); err != nil {
		return nil, err
	}
	return resp.Ciphertext, nil
}

// ECDH computes the shared secret of alias's key and peer (*ecdh.PublicKey
// or *ecdsa.PublicKey on the key's curve): the x coordinate of the shared
// point, as crypto/ecdh returns it. It accepts WithPIN.
func (c *Client) ECDH(ctx context.Context, alias string, peer crypto.PublicKey, opts ...CallOption) ([]byte, error) {
	o, err := collect("ECDH", optPIN, opts)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("ECDH: x509.MarshalPKIXPublicKey: %w", err)
	}
	req := protocol.ECDHRequest{Alias: alias, PeerPublicKey: der, PIN: o.pin}
	var resp protocol.ECDHResponse
	if err := c.roundTrip(ctx, protocol.OpECDH, &req, &resp); err != nil {
		return nil, err
	}
	return resp.SharedSecret, nil
}

// Seal stores secret (1 to 128 bytes) under alias, sealed by the TPM. It
// accepts WithPIN and WithPCRs.
func (c *Client) Seal(ctx context.Context, alias string, secret []byte, opts ...CallOption) (*Key, error) {
	o, err := collect("Seal", optPIN|optPCRs, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.SealRequest{Alias: alias, Secret: secret, PIN: o.pin, PCRs: o.pcrs}
	var resp protocol.SealResponse
	if err := c.roundTrip(ctx, protocol.OpSeal, &req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}

// Unseal returns the secret stored under alias. It accepts WithPIN.
func (c *Client) Unseal(ctx context.Context, alias string, opts ...CallOption) ([]byte, error) {
	o, err := collect("Unseal", optPIN, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.UnsealRequest{Alias: alias, PIN: o.pin}
	var resp protocol.UnsealResponse
	if err := c.roundTrip(ctx, protocol.OpUnseal, &req, &resp); err != nil {
		return nil, err
	}
	return resp.Secret, nil
}

// Random returns n bytes from the TPM's random number generator, asking in
// as many requests as it takes.
func (c *Client) Random(ctx context.Context, n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("Random(%d): %w", n, ErrBadRequest)
	}
	out := make([]byte, 0, n)
	for len(out) < n {
		req := protocol.GetRandomRequest{N: uint(min(n-len(out), maxRandomPerCall))}
		var resp protocol.GetRandomResponse
		if err := c.roundTrip(ctx, protocol.OpGetRandom, &req, &resp); err != nil {
			return nil, err
		}
		if len(resp.Bytes) == 0 {
			return nil, fmt.Errorf("%w: GetRandom returned no bytes", ErrProtocol)
		}
		out = append(out, resp.Bytes...)
	}
	return out[:n], nil
}

// Status returns the agent's version, TPM identity and key counts.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var resp protocol.StatusResponse
	if err := c.roundTrip(ctx, protocol.OpStatus, &protocol.StatusRequest{}, &resp); err != nil {
		return nil, err
	}
	return &Status{
		AgentVersion:    resp.AgentVersion,
		TPMManufacturer: resp.TPMManufacturer,
		TPMFirmware:     resp.TPMFirmware,
		Uptime:          time.Duration(resp.UptimeSeconds) * time.Second,
		Keys:            resp.Keys,
		Connections:     resp.Connections,
		KeysPerUID:      resp.KeysPerUID,
		Lockout:         lockoutFromWire(resp.TPMLockout),
		TPMQueue:        resp.TPMQueue,
		SRKPublic:       resp.SRKPublic,
		SRKName:         resp.SRKName,
	}, nil
}

func lockoutFromWire(l *protocol.LockoutInfo) *Lockout {
	if l == nil {
		return nil
	}
	return &Lockout{Counter: l.Counter, MaxTries: l.MaxTries, InLockout: l.InLockout,
		Interval: time.Duration(l.IntervalSeconds) * time.Second, Recovery: time.Duration(l.RecoverySeconds) * time.Second}
}

// MAC returns the HMAC-SHA256 tag of data (at most 64 KiB), computed in
// the TPM with alias's newest enabled version, and that version's number.
// It accepts WithPIN.
func (c *Client) MAC(ctx context.Context, alias string, data []byte, opts ...CallOption) (tag []byte, version uint32, err error) {
	o, err := collect("MAC", optPIN, opts)
	if err != nil {
		return nil, 0, err
	}
	req := protocol.MACRequest{Alias: alias, Data: data, PIN: o.pin}
	var resp protocol.MACResponse
	if err := c.roundTrip(ctx, protocol.OpMAC, &req, &resp); err != nil {
		return nil, 0, err
	}
	return resp.Tag, resp.Version, nil
}

// VerifyMAC reports whether tag is alias's HMAC-SHA256 of data: with the
// version given, or with any version the key still accepts when version
// is 0. The comparison is the agent's, in constant time. It accepts
// WithPIN.
func (c *Client) VerifyMAC(ctx context.Context, alias string, data, tag []byte, version uint32, opts ...CallOption) (bool, error) {
	o, err := collect("VerifyMAC", optPIN, opts)
	if err != nil {
		return false, err
	}
	req := protocol.VerifyMACRequest{Alias: alias, Data: data, Tag: tag, Version: version, PIN: o.pin}
	var resp protocol.VerifyMACResponse
	if err := c.roundTrip(ctx, protocol.OpVerifyMAC, &req, &resp); err != nil {
		return false, err
	}
	return resp.Valid, nil
}

// RotateKey adds a version to alias's hmac-sha256 key and returns the
// key with its versions: MAC then uses the new version, and tags made by
// the older ones still verify. It accepts WithPIN (the key's PIN, which
// the new version keeps).
func (c *Client) RotateKey(ctx context.Context, alias string, opts ...CallOption) (*Key, error) {
	o, err := collect("RotateKey", optPIN, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.RotateKeyRequest{Alias: alias, PIN: o.pin}
	var resp protocol.RotateKeyResponse
	if err := c.roundTrip(ctx, protocol.OpRotateKey, &req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}
