package core

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/internal/keyfile"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// importKey is ImportKey: a plaintext key is parsed here, wrapped for the
// SRK in software and imported (tpm.ImportKey); a wrapped one goes to the
// TPM as it is. Either way the quota and alias are reserved first, and
// the request's key bytes are wiped by Call.Finish (Secretive).
func (c *Core) importKey(ctx context.Context, call *Call, m *protocol.ImportKeyRequest) (*protocol.ImportKeyResponse, error) {
	given := 0
	for _, set := range []bool{len(m.Key) > 0, m.Wrapped != nil, len(m.Versions) > 0} {
		if set {
			given++
		}
	}
	if given != 1 {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "give exactly one of key, wrapped and versions")
	}
	if m.Wrapped != nil {
		return c.importWrapped(ctx, call, m)
	}
	if len(m.Versions) > 0 {
		return c.importVersions(ctx, call, m)
	}
	if len(m.KeyID) > 0 || m.MinDecryptionVersion != 0 || m.RotationPeriod != 0 {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "key_id, min_decryption_version and rotation_period restore a wrapped key only")
	}
	key, alg, err := importedKey(m)
	if err != nil {
		return nil, err
	}
	wireAlg := alg.String()
	if m.Algorithm == protocol.AlgAES256GCM {
		wireAlg = m.Algorithm
	}
	purposes, wirePurposes, err := keyPurposes(wireAlg, alg, m.Purposes)
	if err != nil {
		return nil, err
	}
	pcrs, pcrInts, err := checkPCRs(m.PCRs)
	if err != nil {
		return nil, err
	}
	if err := checkPIN(m.PIN); err != nil {
		return nil, err
	}
	if !c.tpm.Supports(alg) {
		return nil, protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "this TPM does not support %s", alg)
	}
	release, err := c.reserveCreate(call, m.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	spec := tpm.KeySpec{Algorithm: alg, Purposes: purposes, PIN: call.pinAuth(store.PINSHA256, m.PIN), PCRs: pcrInts}
	blob, pub, err := c.tpm.ImportKey(ctx, spec, key)
	if err != nil {
		return nil, tpmErr(err)
	}
	rec := &store.Record{Alias: m.Alias, OwnerUID: call.ns, Algorithm: wireAlg, Purposes: wirePurposes,
		HasPIN: len(m.PIN) > 0, PINScheme: pinScheme(m.PIN), PCRs: pcrs, Origin: store.OriginImported}
	if err := c.fillImported(rec, blob, pub, key); err != nil {
		c.tpm.Forget(blob)
		return nil, err
	}
	if err := c.createRecord(call, rec); err != nil {
		return nil, err
	}
	return &protocol.ImportKeyResponse{Key: keyInfo(rec)}, nil
}

// importWrapped imports a key wrapped elsewhere for this TPM's SRK; what
// it may do and whether it has a PIN come from its public area.
func (c *Core) importWrapped(ctx context.Context, call *Call, m *protocol.ImportKeyRequest) (*protocol.ImportKeyResponse, error) {
	if err := checkWrappedRequest(m); err != nil {
		return nil, err
	}
	if m.MinDecryptionVersion != 0 || m.RotationPeriod != 0 {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "min_decryption_version and rotation_period are for versions")
	}
	w := m.Wrapped
	scheme, err := pinSchemeOf(w.PINScheme)
	if err != nil {
		return nil, err
	}
	keyID, err := c.restoredKeyID(call, m.KeyID)
	if err != nil {
		return nil, err
	}
	release, err := c.reserveCreate(call, m.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	blob, pub, err := c.tpm.ImportWrapped(ctx, &wrap.Blob{Public: w.Public, Duplicate: w.Duplicate, Seed: w.Seed})
	if err != nil {
		return nil, tpmErr(err)
	}
	info, err := tpm.Describe(blob)
	if err != nil {
		c.tpm.Forget(blob)
		return nil, tpmErr(err)
	}
	if m.Algorithm != "" && m.Algorithm != info.Algorithm.String() {
		c.tpm.Forget(blob)
		return nil, protocol.Errorf(protocol.StatusImportFailed, "wrapped key is %s, not %s", info.Algorithm, m.Algorithm)
	}
	if info.Algorithm == tpm.HMACSHA256 {
		c.tpm.Forget(blob)
		return nil, protocol.Errorf(protocol.StatusBadRequest, "a symmetric key comes as versions, not wrapped")
	}
	rec := &store.Record{Alias: m.Alias, OwnerUID: call.ns, Algorithm: info.Algorithm.String(),
		Purposes: purposeNames(info.Purposes), HasPIN: info.HasPIN, PINScheme: scheme,
		Origin: store.OriginImportedWrapped, KeyID: keyID}
	if err := c.fillImported(rec, blob, pub, nil); err != nil {
		c.tpm.Forget(blob)
		return nil, err
	}
	if err := c.createRecord(call, rec); err != nil {
		return nil, err
	}
	return &protocol.ImportKeyResponse{Key: keyInfo(rec)}, nil
}

// importVersions restores a symmetric key exported version by version:
// each version is imported (TPM2_Import), and the record keeps the
// versions' numbers, times and states, the key id (aes-256-gcm
// ciphertexts name it) and the minimum decryption version.
func (c *Core) importVersions(ctx context.Context, call *Call, m *protocol.ImportKeyRequest) (*protocol.ImportKeyResponse, error) {
	if err := checkWrappedRequest(m); err != nil {
		return nil, err
	}
	if m.Algorithm != protocol.AlgHMACSHA256 && m.Algorithm != protocol.AlgAES256GCM {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "versions are for hmac-sha256 and aes-256-gcm keys; algorithm %q", m.Algorithm)
	}
	if len(m.Versions) > store.MaxKeyVersions {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "%d versions, at most %d", len(m.Versions), store.MaxKeyVersions)
	}
	if m.RotationPeriod > protocol.MaxRotationSeconds {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "rotation_period of %d seconds is too long", m.RotationPeriod)
	}
	scheme, err := pinSchemeOf(m.Versions[0].Wrapped.PINScheme)
	if err != nil {
		return nil, err
	}
	_, wirePurposes, err := keyPurposes(m.Algorithm, tpm.HMACSHA256, nil)
	if err != nil {
		return nil, err
	}
	keyID, err := c.restoredKeyID(call, m.KeyID)
	if err != nil {
		return nil, err
	}
	release, err := c.reserveCreate(call, m.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	rec := &store.Record{Alias: m.Alias, OwnerUID: call.ns, Algorithm: m.Algorithm, Purposes: wirePurposes,
		PINScheme: scheme, Origin: store.OriginImportedWrapped, KeyID: keyID,
		MinDecryptionVersion: m.MinDecryptionVersion, RotationPeriod: time.Duration(m.RotationPeriod) * time.Second}
	forget := func() {
		for i := range rec.Versions {
			c.tpm.Forget(&rec.Versions[i].Blob)
		}
	}
	for i, v := range m.Versions {
		w := v.Wrapped
		blob, _, err := c.tpm.ImportWrapped(ctx, &wrap.Blob{Public: w.Public, Duplicate: w.Duplicate, Seed: w.Seed})
		if err != nil {
			forget()
			return nil, tpmErr(err)
		}
		rec.Versions = append(rec.Versions, store.KeyVersion{Number: v.Number, Created: time.Unix(v.Created, 0).UTC(),
			Disabled: v.Disabled, Blob: *blob})
		info, err := tpm.Describe(blob)
		switch {
		case err != nil:
			forget()
			return nil, tpmErr(err)
		case info.Algorithm != tpm.HMACSHA256:
			forget()
			return nil, protocol.Errorf(protocol.StatusImportFailed, "version %d is a %s key, not a symmetric one", v.Number, info.Algorithm)
		case i > 0 && info.HasPIN != rec.HasPIN:
			forget()
			return nil, protocol.Errorf(protocol.StatusImportFailed, "versions disagree on whether the key has a PIN")
		}
		rec.HasPIN = info.HasPIN
	}
	if err := c.createRecord(call, rec); err != nil {
		forget()
		if errors.Is(err, store.ErrInvalidRecord) {
			return nil, protocol.Errorf(protocol.StatusBadRequest, "versions: %v", err)
		}
		return nil, err
	}
	// restoredKeyID's scan may have just run: without this, AEADDecrypt
	// would not look again for a second.
	c.aead.ids.note(rec)
	return &protocol.ImportKeyResponse{Key: keyInfo(rec)}, nil
}

// checkWrappedRequest refuses what a wrapped key brings itself.
func checkWrappedRequest(m *protocol.ImportKeyRequest) error {
	if len(m.Purposes) > 0 || len(m.PIN) > 0 || len(m.PCRs) > 0 {
		return protocol.Errorf(protocol.StatusBadRequest, "a wrapped key brings its own purposes and PIN; give neither, nor pcrs")
	}
	return nil
}

// pinSchemeOf is a wrapped key's PIN scheme.
func pinSchemeOf(name string) (store.PINScheme, error) {
	switch name {
	case "", protocol.PINSchemeRaw:
		return store.PINRaw, nil
	case protocol.PINSchemeSHA256:
		return store.PINSHA256, nil
	}
	return 0, protocol.Errorf(protocol.StatusBadRequest, "unknown pin_scheme %q", name)
}

// restoredKeyID is the key id a restore asks for (zero: a new one), which
// no symmetric key of the namespace may hold already: AEADDecrypt finds
// keys by it.
func (c *Core) restoredKeyID(call *Call, id []byte) ([16]byte, error) {
	var out [16]byte
	if len(id) == 0 {
		return out, nil
	}
	if len(id) != len(out) || bytes.Equal(id, out[:]) {
		return out, protocol.Errorf(protocol.StatusBadRequest, "key_id of %d bytes, want 16, not all zero", len(id))
	}
	copy(out[:], id)
	switch _, err := c.findByKeyID(call.ns, out); {
	case err == nil:
		return out, fmt.Errorf("key id %x is taken: %w", out, ErrKeyExists)
	case !errors.Is(err, ErrKeyNotFound):
		return out, err
	}
	return out, nil
}

// fillImported puts the blob in rec (as version 1 of a symmetric key) and
// the public key the TPM holds, which must be the one given (want, when
// the key was given in plain).
func (c *Core) fillImported(rec *store.Record, blob *tpm.Blob, pub crypto.PublicKey, want any) error {
	if rec.Kind() == store.KindSymmetric {
		rec.Versions = []store.KeyVersion{{Number: 1, Created: nowSecond(), Blob: *blob}}
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("x509.MarshalPKIXPublicKey: %w", err)
	}
	if s, ok := want.(crypto.Signer); ok {
		wantDER, err := x509.MarshalPKIXPublicKey(s.Public())
		if err != nil || !bytes.Equal(der, wantDER) {
			return protocol.Errorf(protocol.StatusImportFailed, "the TPM holds another public key than the one given")
		}
	}
	rec.PublicDER, rec.Blob = der, *blob
	return nil
}

// aesRootKeySize is the length of an imported aes-256-gcm key.
const aesRootKeySize = 32

// importedKey parses a plaintext key: raw bytes for hmac-sha256, else a
// private key file, whose algorithm must match the one named, if any.
func importedKey(m *protocol.ImportKeyRequest) (any, tpm.Algorithm, error) {
	switch m.Algorithm {
	case protocol.AlgHMACSHA256:
		if n := len(m.Key); n < wrap.MinHMACKeySize || n > wrap.MaxHMACKeySize {
			return nil, 0, protocol.Errorf(protocol.StatusImportFailed, "an hmac-sha256 key is %d..%d bytes, not %d",
				wrap.MinHMACKeySize, wrap.MaxHMACKeySize, n)
		}
		return m.Key, tpm.HMACSHA256, nil
	case protocol.AlgAES256GCM:
		// An aes-256-gcm version is an HMAC key inside the TPM from which
		// the working keys are derived (PROTOCOL.md Appendix A): the 32
		// bytes become version 1's root key, so whoever holds them can
		// derive the working key of this key_id and version, and open
		// its ciphertexts, without the TPM.
		if len(m.Key) != aesRootKeySize {
			return nil, 0, protocol.Errorf(protocol.StatusImportFailed, "an aes-256-gcm key is %d bytes, not %d", aesRootKeySize, len(m.Key))
		}
		return m.Key, tpm.HMACSHA256, nil
	}
	k, err := keyfile.Parse(m.Key, nil)
	if err != nil {
		return nil, 0, keyfileErr(err)
	}
	alg := algOfKey(k)
	if m.Algorithm != "" && m.Algorithm != alg.String() {
		return nil, 0, protocol.Errorf(protocol.StatusImportFailed, "key is %s, not %s", alg, m.Algorithm)
	}
	return k, alg, nil
}

func algOfKey(k crypto.Signer) tpm.Algorithm {
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve == elliptic.P384() {
			return tpm.ECCP384
		}
		return tpm.ECCP256
	case *rsa.PublicKey:
		if pub.N.BitLen() == 3072 {
			return tpm.RSA3072
		}
		return tpm.RSA2048
	}
	return 0
}

// nowSecond is the time a record stores: UTC, to the second.
func nowSecond() time.Time { return time.Now().UTC().Truncate(time.Second) }

// keyfileErr is the wire status of a key that did not parse.
func keyfileErr(err error) error {
	switch {
	case errors.Is(err, keyfile.ErrUnsupported):
		return protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "%v", err)
	case errors.Is(err, keyfile.ErrEncrypted):
		return protocol.Errorf(protocol.StatusImportFailed, "the key is encrypted: decrypt it first (the CLI asks for the passphrase)")
	}
	return protocol.Errorf(protocol.StatusImportFailed, "%v", err)
}

// purposeNames is p as wire names, in canonical order.
func purposeNames(p tpm.Purpose) []string {
	var out []string
	for _, c := range []struct {
		bit  tpm.Purpose
		name string
	}{{tpm.PurposeSign, protocol.PurposeSign}, {tpm.PurposeDecrypt, protocol.PurposeDecrypt},
		{tpm.PurposeAgree, protocol.PurposeAgree}, {tpm.PurposeMAC, protocol.PurposeMAC}} {
		if p&c.bit != 0 {
			out = append(out, c.name)
		}
	}
	return out
}

// importCost: an import is charged what an EC keygen is, whatever the
// algorithm, because that is the TPM time it takes (swtpm: ~1.3 ms for EC
// P-256, ~0.8 ms for RSA-2048, wrap included): unlike a keygen, the TPM
// searches no primes. Parsing and wrapping run on the caller's goroutine,
// outside the TPM's turn.
// A symmetric key restored with versions is charged per version.
func importCost(call *Call) int {
	m := call.Req.(*protocol.ImportKeyRequest)
	return costECKeygen * max(1, min(len(m.Versions), store.MaxKeyVersions))
}
