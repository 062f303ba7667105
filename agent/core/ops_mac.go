package core

import (
	"context"
	"crypto/hmac"
	"fmt"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// MAC keys (hmac-sha256) stay in the TPM: every tag is computed by it
// (tpm.HMAC), with the newest enabled version; the versions' blobs are in
// the record, each a TPM-made keyedhash object under the SRK.

func (c *Core) mac(ctx context.Context, call *Call, m *protocol.MACRequest) (*protocol.MACResponse, error) {
	auth := call.auth(m.PIN)
	rec, v, err := c.rotatedNewest(ctx, call, call.key, auth)
	if err != nil {
		return nil, err
	}
	call.key, call.version = rec, v.Number
	tag, err := c.tpm.HMAC(ctx, &v.Blob, auth, m.Data)
	if err != nil {
		return nil, tpmErr(err)
	}
	return &protocol.MACResponse{Tag: tag, Version: v.Number}, nil
}

// verifyMAC recomputes the tag in the TPM with the version named, or with
// each enabled version the key still accepts, newest first, and compares
// in constant time. A version that is disabled, too old or unknown does
// not verify, exactly like a wrong tag.
func (c *Core) verifyMAC(ctx context.Context, call *Call, m *protocol.VerifyMACRequest) (*protocol.VerifyMACResponse, error) {
	auth := call.auth(m.PIN) // one derivation for every version tried
	for _, v := range acceptedVersions(call.key, m.Version) {
		tag, err := c.tpm.HMAC(ctx, &v.Blob, auth, m.Data)
		if err != nil {
			return nil, tpmErr(err)
		}
		if hmac.Equal(tag, m.Tag) {
			return &protocol.VerifyMACResponse{Valid: true}, nil
		}
	}
	return &protocol.VerifyMACResponse{Valid: false}, nil
}

// rotateKey adds a version to an hmac-sha256 key, made by the TPM with the
// same PIN and PCR policy. The alias is held meanwhile, so that two
// rotations cannot both add "the next" version, and the record is re-read
// under the hold.
func (c *Core) rotateKey(ctx context.Context, call *Call, m *protocol.RotateKeyRequest) (*protocol.RotateKeyResponse, error) {
	if call.key.Kind() != store.KindSymmetric {
		return nil, protocol.Errorf(protocol.StatusUnsupportedAlgorithm,
			"only hmac-sha256 and aes-256-gcm keys rotate; for a %s key, make a new key under a new alias", call.key.Algorithm)
	}
	release, err := c.holdAlias(call.ns, call.key.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	rec, err := c.store.Get(call.ns, call.key.Alias)
	if err != nil {
		return nil, fmt.Errorf("Store.Get: %w", err)
	}
	if rec.KeyID != call.key.KeyID {
		return nil, fmt.Errorf("%q was replaced meanwhile: %w", rec.Alias, ErrKeyNotFound)
	}
	if len(rec.Versions) >= store.MaxKeyVersions {
		return nil, fmt.Errorf("%q has %d versions, the most a key keeps: %w", rec.Alias, len(rec.Versions), ErrQuotaExceeded)
	}
	call.key = rec
	rec, err = c.addVersionLocked(ctx, cloneRecord(rec), call.auth(m.PIN))
	if err != nil {
		return nil, err
	}
	return &protocol.RotateKeyResponse{Key: keyInfo(rec)}, nil
}

// addVersionLocked adds a version to rec, a symmetric key the caller holds
// the alias of (holdAlias) and read under the hold, made by the TPM with
// the same PIN and PCR policy, and stores it.
func (c *Core) addVersionLocked(ctx context.Context, rec *store.Record, auth tpm.Auth) (*store.Record, error) {
	if rec.HasPIN { // the new version gets this PIN: the TPM checks it first
		newest, ok := rec.Newest()
		if !ok {
			return nil, fmt.Errorf("%q has no enabled version: %w", rec.Alias, ErrKeyInvalidated)
		}
		if _, err := c.tpm.HMAC(ctx, &newest.Blob, auth, nil); err != nil {
			return nil, tpmErr(err)
		}
	}
	// An exportable key's versions are all exportable to its one target.
	blob, _, err := c.tpm.CreateKey(ctx, tpm.KeySpec{Algorithm: tpm.HMACSHA256, Purposes: tpm.PurposeMAC,
		PIN: auth.PIN, PCRs: auth.PCRs, ExportTo: rec.ExportTo})
	if err != nil {
		return nil, tpmErr(err)
	}
	last := rec.Versions[len(rec.Versions)-1].Number
	rec.Versions = append(rec.Versions, store.KeyVersion{Number: last + 1,
		Created: c.aead.now().UTC().Truncate(time.Second), Blob: *blob})
	if err := c.store.Update(rec); err != nil {
		c.tpm.Forget(blob)
		return nil, fmt.Errorf("Store.Update: %w", err)
	}
	return rec, nil
}

// acceptedVersions are the versions of rec a MAC may be checked with:
// want alone (0: all), enabled and not below the minimum, newest first.
func acceptedVersions(rec *store.Record, want uint32) []*store.KeyVersion {
	min := rec.MinDecryption()
	var out []*store.KeyVersion
	for i := len(rec.Versions) - 1; i >= 0; i-- {
		v := &rec.Versions[i]
		if v.Disabled || v.Number < min || (want != 0 && v.Number != want) {
			continue
		}
		out = append(out, v)
	}
	return out
}

// verifyMACCost charges a VerifyMAC one token per TPM HMAC it may take:
// each version the key accepts, when no version is named (up to 64).
func verifyMACCost(call *Call) int {
	return max(costFrame, len(acceptedVersions(call.key, call.Req.(*protocol.VerifyMACRequest).Version)))
}

// forgetKey drops every blob of rec from the TPM's cache.
func (c *Core) forgetKey(rec *store.Record) {
	c.tpm.Forget(&rec.Blob)
	for i := range rec.Versions {
		c.tpm.Forget(&rec.Versions[i].Blob)
	}
}

// versionInfo is rec's versions as KeyInfo lists them.
func versionInfo(rec *store.Record) []protocol.KeyVersionInfo {
	if len(rec.Versions) == 0 {
		return nil
	}
	out := make([]protocol.KeyVersionInfo, len(rec.Versions))
	for i, v := range rec.Versions {
		state := protocol.VersionEnabled
		if v.Disabled {
			state = protocol.VersionDisabled
		}
		out[i] = protocol.KeyVersionInfo{Number: v.Number, Created: v.Created.Unix(), State: state}
	}
	return out
}
