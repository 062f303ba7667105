package core

import (
	"context"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Sealed secrets share the alias namespace of keys, with algorithm
// "sealed" and no purposes.

func (c *Core) seal(ctx context.Context, call *Call, m *protocol.SealRequest) (*protocol.SealResponse, error) {
	if len(m.Secret) < 1 || len(m.Secret) > tpm.MaxSealedSize {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "secret must be 1..%d bytes", tpm.MaxSealedSize)
	}
	pcrs, pcrInts, err := checkPCRs(m.PCRs)
	if err != nil {
		return nil, err
	}
	if err := checkPIN(m.PIN); err != nil {
		return nil, err
	}
	release, err := c.reserveCreate(call, m.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	blob, err := c.tpm.Seal(ctx, m.Secret, tpm.KeySpec{Algorithm: tpm.Sealed, PIN: call.pinAuth(store.PINSHA256, m.PIN), PCRs: pcrInts})
	if err != nil {
		return nil, tpmErr(err)
	}
	rec := &store.Record{Alias: m.Alias, OwnerUID: call.ns, Algorithm: protocol.AlgSealed,
		Purposes: []string{}, HasPIN: len(m.PIN) > 0, PINScheme: pinScheme(m.PIN), PCRs: pcrs, Blob: *blob}
	if err := c.createRecord(call, rec); err != nil {
		return nil, err
	}
	return &protocol.SealResponse{Key: keyInfo(rec)}, nil
}

func (c *Core) unseal(ctx context.Context, call *Call, m *protocol.UnsealRequest) (*protocol.UnsealResponse, error) {
	rec := call.key
	if rec.Algorithm != protocol.AlgSealed {
		return nil, fmt.Errorf("%q is a key, not a sealed secret: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	secret, err := c.tpm.Unseal(ctx, &rec.Blob, call.auth(m.PIN))
	if err != nil {
		return nil, tpmErr(err)
	}
	call.Sensitive = true
	call.wipe(secret)
	return &protocol.UnsealResponse{Secret: secret}, nil
}
