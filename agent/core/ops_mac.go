package core

import (
	"context"
	"crypto/hmac"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// MAC keys (hmac-sha256) stay in the TPM: every tag is computed by it
// (tpm.HMAC), with the newest enabled version; the versions' blobs are in
// the record, each a TPM-made keyedhash object under the SRK.

func (c *Core) mac(ctx context.Context, call *Call, m *protocol.MACRequest) (*protocol.MACResponse, error) {
	v, ok := call.key.Newest()
	if !ok {
		return nil, fmt.Errorf("%q has no enabled version: %w", call.key.Alias, ErrKeyInvalidated)
	}
	tag, err := c.tpm.HMAC(ctx, &v.Blob, call.auth(m.PIN), m.Data)
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
	for _, v := range acceptedVersions(call.key, m.Version) {
		tag, err := c.tpm.HMAC(ctx, &v.Blob, call.auth(m.PIN), m.Data)
		if err != nil {
			return nil, tpmErr(err)
		}
		if hmac.Equal(tag, m.Tag) {
			return &protocol.VerifyMACResponse{Valid: true}, nil
		}
	}
	return &protocol.VerifyMACResponse{Valid: false}, nil
}

// acceptedVersions are the versions of rec a MAC may be checked with:
// want alone (0: all), enabled and not below the minimum, newest first.
func acceptedVersions(rec *store.Record, want uint32) []*store.KeyVersion {
	min := max(rec.MinDecryptionVersion, 1)
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
