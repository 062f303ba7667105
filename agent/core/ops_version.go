package core

import (
	"context"
	"fmt"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// setKeyVersion changes a symmetric key's versions under a hold of its
// alias: a version's state, the min_decryption_version, the rotation
// period. A change that would leave the key unable to encrypt (every
// version disabled, or the minimum above the newest enabled version) is
// refused with a line that says so.
func (c *Core) setKeyVersion(_ context.Context, call *Call, m *protocol.SetKeyVersionRequest) (*protocol.SetKeyVersionResponse, error) {
	if call.key.Kind() != store.KindSymmetric {
		return nil, protocol.Errorf(protocol.StatusUnsupportedAlgorithm,
			"only hmac-sha256 and aes-256-gcm keys have versions; %q is a %s key", call.alias, call.key.Algorithm)
	}
	release, err := c.holdAliasWait(call.ns, call.key.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	cur, err := c.store.Get(call.ns, call.key.Alias)
	if err != nil {
		return nil, fmt.Errorf("Store.Get: %w", err)
	}
	if cur.KeyID != call.key.KeyID {
		return nil, fmt.Errorf("%q was replaced meanwhile: %w", cur.Alias, ErrKeyNotFound)
	}
	rec := cloneRecord(cur)
	if err := applyVersionChange(rec, m); err != nil {
		return nil, err
	}
	if err := c.store.Update(rec); err != nil {
		return nil, fmt.Errorf("Store.Update: %w", err)
	}
	call.key, call.version = rec, m.Version
	// Working keys the key no longer uses are zeroed now, not at their TTL.
	c.aead.keys.forget(rec.KeyID, func(n uint32) bool {
		v, ok := rec.Version(n)
		return !ok || v.Disabled || n < rec.MinDecryption()
	})
	return &protocol.SetKeyVersionResponse{Key: keyInfo(rec)}, nil
}

func applyVersionChange(rec *store.Record, m *protocol.SetKeyVersionRequest) error {
	if m.Version != 0 {
		v, ok := rec.Version(m.Version)
		if !ok {
			return protocol.Errorf(protocol.StatusBadRequest, "key %q has no version %d (it has 1..%d)", rec.Alias, m.Version, len(rec.Versions))
		}
		v.Disabled = m.State == protocol.VersionDisabled
	}
	if m.MinDecryptionVersion != nil {
		rec.MinDecryptionVersion = *m.MinDecryptionVersion
	}
	if m.RotationPeriod != nil {
		rec.RotationPeriod = time.Duration(*m.RotationPeriod) * time.Second
	}
	newest, ok := rec.Newest()
	switch {
	case !ok:
		return protocol.Errorf(protocol.StatusBadRequest, "refused: version %d is the only enabled version of %q; rotate the key first", m.Version, rec.Alias)
	case rec.MinDecryptionVersion > uint32(len(rec.Versions)):
		return protocol.Errorf(protocol.StatusBadRequest, "min_decryption_version %d is above the newest version %d of %q", rec.MinDecryptionVersion, len(rec.Versions), rec.Alias)
	case newest.Number < rec.MinDecryption():
		return protocol.Errorf(protocol.StatusBadRequest, "refused: the newest enabled version of %q, %d, would be below min_decryption_version %d, so the key could not decrypt what it encrypts", rec.Alias, newest.Number, rec.MinDecryption())
	}
	return nil
}

// keyPurposes is parsePurposes, and for aes-256-gcm (an HMAC key in the
// TPM) the one purpose encrypt.
func keyPurposes(wire string, a tpm.Algorithm, names []string) (tpm.Purpose, []string, error) {
	if wire != protocol.AlgAES256GCM {
		return parsePurposes(a, names)
	}
	for _, n := range names {
		if n != protocol.PurposeEncrypt {
			return 0, nil, fmt.Errorf("aes-256-gcm keys only encrypt (purpose %q): %w", protocol.PurposeEncrypt, ErrIncompatiblePurpose)
		}
	}
	return tpm.PurposeMAC, []string{protocol.PurposeEncrypt}, nil
}

// rotationPeriod is GenerateKey's rotation period, for symmetric keys only.
func rotationPeriod(m *protocol.GenerateKeyRequest) (time.Duration, error) {
	switch {
	case m.RotationPeriod == 0:
		return 0, nil
	case m.Algorithm != protocol.AlgAES256GCM && m.Algorithm != protocol.AlgHMACSHA256:
		return 0, protocol.Errorf(protocol.StatusBadRequest, "rotation_period is for aes-256-gcm and hmac-sha256 keys only")
	case m.RotationPeriod > protocol.MaxRotationSeconds:
		return 0, protocol.Errorf(protocol.StatusBadRequest, "rotation_period of %d seconds is too long", m.RotationPeriod)
	}
	return time.Duration(m.RotationPeriod) * time.Second, nil
}
