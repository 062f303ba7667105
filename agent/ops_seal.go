package agent

import (
	"context"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Sealed secrets share the alias namespace of keys, with algorithm
// "sealed" and no purposes.

func (s *server) seal(ctx context.Context, r *request, m *protocol.SealRequest) (any, error) {
	r.alias = m.Alias
	r.wipe(m.Secret, m.PIN)
	if err := checkAlias(m.Alias); err != nil {
		return nil, err
	}
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
	if err := s.precheckCreate(r, m.Alias); err != nil {
		return nil, err
	}
	blob, err := s.tpm.Seal(ctx, m.Secret, tpm.KeySpec{Algorithm: tpm.Sealed, PIN: m.PIN, PCRs: pcrInts})
	if err != nil {
		return nil, tpmErr("Seal", err)
	}
	rec := &store.Record{Alias: m.Alias, OwnerUID: r.caller.UID, Algorithm: protocol.AlgSealed,
		Purposes: []string{}, HasPIN: len(m.PIN) > 0, PCRs: pcrs, Blob: *blob}
	if err := s.createRecord(r, rec); err != nil {
		return nil, err
	}
	return &protocol.SealResponse{Key: keyInfo(rec)}, nil
}

func (s *server) unseal(ctx context.Context, r *request, m *protocol.UnsealRequest) (any, error) {
	r.wipe(m.PIN)
	rec, err := s.lookup(r, m.Alias)
	if err != nil {
		return nil, err
	}
	if rec.Algorithm != protocol.AlgSealed {
		return nil, protocol.Errorf(protocol.StatusIncompatiblePurpose, "%q is a key, not a sealed secret", rec.Alias)
	}
	secret, err := s.tpm.Unseal(ctx, &rec.Blob, authFor(rec, m.PIN))
	if err != nil {
		return nil, tpmErr("Unseal", err)
	}
	r.sensitive = true
	r.wipe(secret)
	return &protocol.UnsealResponse{Secret: secret}, nil
}
