package core

import (
	"bytes"
	"context"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// exportCost charges an export like an EC keygen per TPM2_Duplicate: one,
// or one per version of a symmetric key.
func exportCost(call *Call) int {
	if call.key != nil && len(call.key.Versions) > 0 {
		return costECKeygen * len(call.key.Versions)
	}
	return costECKeygen
}

// exportKey is ExportKey: an exportable key, wrapped for the one backup
// TPM it was made for. Only its owner and admins reach it (the lookup
// step); the audit record names the key, as for every operation.
func (c *Core) exportKey(ctx context.Context, call *Call, m *protocol.ExportKeyRequest) (*protocol.ExportKeyResponse, error) {
	target, err := wrap.ParseParent(m.Target)
	if err != nil {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "target: %v", err)
	}
	name, err := wrap.Name(target)
	if err != nil {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "target: %v", err)
	}
	rec := call.key
	if len(rec.ExportTo) == 0 {
		return nil, protocol.Errorf(protocol.StatusNotExportable, "%q was made to stay in this TPM", rec.Alias)
	}
	if !bytes.Equal(rec.ExportTo, name) {
		return nil, protocol.Errorf(protocol.StatusNotExportable, "%q is exportable to SRK %x only, not %x", rec.Alias, rec.ExportTo, name)
	}
	scheme := pinSchemeName(rec.PINScheme)
	resp := &protocol.ExportKeyResponse{Key: keyInfo(rec)}
	if rec.Kind() != store.KindSymmetric {
		w, err := c.tpm.ExportKey(ctx, &rec.Blob, target)
		if err != nil {
			return nil, tpmErr(err)
		}
		resp.Wrapped = protocol.WrappedKey{Public: w.Public, Duplicate: w.Duplicate, Seed: w.Seed, PINScheme: scheme}
		return resp, nil
	}
	for _, v := range rec.Versions {
		w, err := c.tpm.ExportKey(ctx, &v.Blob, target)
		if err != nil {
			return nil, tpmErr(err)
		}
		resp.Versions = append(resp.Versions, protocol.WrappedVersion{Number: v.Number, Created: v.Created.Unix(),
			Disabled: v.Disabled, Wrapped: protocol.WrappedKey{Public: w.Public, Duplicate: w.Duplicate, Seed: w.Seed, PINScheme: scheme}})
	}
	return resp, nil
}

// pinSchemeName is a PIN scheme as WrappedKey names it.
func pinSchemeName(s store.PINScheme) string {
	if s == store.PINSHA256 {
		return protocol.PINSchemeSHA256
	}
	return protocol.PINSchemeRaw
}
