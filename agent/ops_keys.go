package agent

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

const (
	defaultListLimit = 100
	maxListLimit     = 1000
	maxRandom        = 1024
)

func (s *server) hello(r *request, m *protocol.HelloRequest) (any, error) {
	if !slices.Contains(m.Versions, protocol.Version1) {
		return nil, protocol.Errorf(protocol.StatusUnsupportedVersion, "this agent speaks protocol version 1 only")
	}
	info := s.tpm.Info()
	algs := make([]string, 0, len(info.Algorithms))
	for _, a := range info.Algorithms {
		if n := algToWire(a); n != "" {
			algs = append(algs, n)
		}
	}
	ops := make([]string, 0, protocol.OpStatus)
	for op := protocol.OpHello; op <= protocol.OpStatus; op++ {
		ops = append(ops, op.String())
	}
	r.helloOK = true
	return &protocol.HelloResponse{
		Version: protocol.Version1, AgentVersion: s.version,
		TPMManufacturer: info.Manufacturer, TPMFirmware: info.Firmware,
		Algorithms: algs, Operations: ops, MaxFrameSize: r.limits().MaxFrameSize,
	}, nil
}

func (s *server) generateKey(ctx context.Context, r *request, m *protocol.GenerateKeyRequest) (any, error) {
	r.alias = m.Alias
	r.wipe(m.PIN)
	if err := checkAlias(m.Alias); err != nil {
		return nil, err
	}
	alg, ok := algFromWire(m.Algorithm)
	if !ok || alg == tpm.Sealed {
		return nil, protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "algorithm %q cannot be generated", m.Algorithm)
	}
	purposes, wirePurposes, err := parsePurposes(alg, m.Purposes)
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
	if !s.tpm.Supports(alg) {
		return nil, protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "this TPM does not support %s", m.Algorithm)
	}
	if err := s.precheckCreate(r, m.Alias); err != nil {
		return nil, err
	}
	blob, pub, err := s.tpm.CreateKey(ctx, tpm.KeySpec{Algorithm: alg, Purposes: purposes, PIN: m.PIN, PCRs: pcrInts})
	if err != nil {
		return nil, tpmErr("CreateKey", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("x509.MarshalPKIXPublicKey: %w", err)
	}
	rec := &store.Record{Alias: m.Alias, OwnerUID: r.caller.UID, Algorithm: m.Algorithm, Purposes: wirePurposes,
		HasPIN: len(m.PIN) > 0, PCRs: pcrs, PublicDER: der, Blob: *blob}
	if err := s.createRecord(r, rec); err != nil {
		return nil, err
	}
	return &protocol.GenerateKeyResponse{Key: keyInfo(rec)}, nil
}

// precheckCreate refuses a taken alias or a full quota before the TPM does
// slow work (an RSA key takes up to a third of a second). Store.Create
// checks both again, atomically.
func (s *server) precheckCreate(r *request, alias string) error {
	_, err := s.store.Get(r.caller.UID, alias)
	switch {
	case err == nil || errors.Is(err, ErrKeyInvalidated):
		return ErrKeyExists
	case !errors.Is(err, ErrKeyNotFound):
		return fmt.Errorf("Store.Get: %w", err)
	}
	if max := r.limits().MaxKeysPerUID; max > 0 {
		n, err := s.store.Count(r.caller.UID)
		if err != nil {
			return fmt.Errorf("Store.Count: %w", err)
		}
		if n >= max {
			return ErrQuotaExceeded
		}
	}
	return nil
}

// createRecord gives rec its id and creation time and stores it; when the
// store refuses, the new blob is dropped from the TPM's cache.
func (s *server) createRecord(r *request, rec *store.Record) error {
	if _, err := rand.Read(rec.KeyID[:]); err != nil {
		return fmt.Errorf("rand.Read: %w", err)
	}
	rec.Created = time.Now().UTC().Truncate(time.Second)
	if err := s.store.Create(rec, r.limits().MaxKeysPerUID); err != nil {
		s.tpm.Forget(&rec.Blob)
		return fmt.Errorf("Store.Create: %w", err)
	}
	r.keyID = rec.KeyID[:]
	return nil
}

// lookupFor finds a key in the caller's own namespace and checks that its
// purposes allow the operation, before anything reaches the TPM.
func (s *server) lookupFor(r *request, alias, purpose string) (*store.Record, error) {
	rec, err := s.lookup(r, alias)
	if err != nil {
		return nil, err
	}
	if err := checkPurpose(rec, purpose); err != nil {
		return nil, err
	}
	return rec, nil
}

// lookup finds a key in the caller's own namespace.
func (s *server) lookup(r *request, alias string) (*store.Record, error) {
	return s.lookupIn(r, alias, nil)
}

// lookupIn finds a key in the namespace uid names (nil: the caller's own;
// another uid's only for admins).
func (s *server) lookupIn(r *request, alias string, uid *uint32) (*store.Record, error) {
	owner, err := s.target(r, alias, uid)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.Get(owner, alias)
	if err != nil {
		return nil, fmt.Errorf("Store.Get: %w", err)
	}
	r.keyID = rec.KeyID[:]
	return rec, nil
}

// target resolves the namespace and checks the alias, before the store is
// touched, so that no path is ever formed from a bad alias.
func (s *server) target(r *request, alias string, uid *uint32) (uint32, error) {
	r.alias = alias
	owner, err := r.st.namespace(r.caller, uid)
	if err != nil {
		return 0, err
	}
	return owner, checkAlias(alias)
}

func (s *server) getKey(r *request, m *protocol.GetKeyRequest) (any, error) {
	rec, err := s.lookupIn(r, m.Alias, m.UID)
	if err != nil {
		return nil, err
	}
	return &protocol.GetKeyResponse{Key: keyInfo(rec)}, nil
}

func (s *server) listKeys(r *request, m *protocol.ListKeysRequest) (any, error) {
	uid, err := r.st.namespace(r.caller, m.UID)
	if err != nil {
		return nil, err
	}
	limit := int(min(m.Limit, maxListLimit))
	if limit == 0 {
		limit = defaultListLimit
	}
	recs, next, err := s.store.List(uid, m.Cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("Store.List: %w", err)
	}
	resp := &protocol.ListKeysResponse{Keys: make([]protocol.KeyInfo, len(recs)), NextCursor: next}
	for i, rec := range recs {
		resp.Keys[i] = keyInfo(rec)
	}
	return resp, nil
}

func (s *server) deleteKey(r *request, m *protocol.DeleteKeyRequest) (any, error) {
	uid, err := s.target(r, m.Alias, m.UID)
	if err != nil {
		return nil, err
	}
	rec, err := s.store.Delete(uid, m.Alias)
	if err != nil {
		return nil, fmt.Errorf("Store.Delete: %w", err)
	}
	if rec.KeyID != ([16]byte{}) { // a refused record has no trustworthy id
		r.keyID = rec.KeyID[:]
	}
	s.tpm.Forget(&rec.Blob)
	return &protocol.DeleteKeyResponse{}, nil
}

func (s *server) getRandom(ctx context.Context, r *request, m *protocol.GetRandomRequest) (any, error) {
	if m.N < 1 || m.N > maxRandom {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "n must be 1..%d", maxRandom)
	}
	b, err := s.tpm.Random(ctx, int(m.N))
	if err != nil {
		return nil, tpmErr("Random", err)
	}
	return &protocol.GetRandomResponse{Bytes: b}, nil
}

func (s *server) status(r *request) (any, error) {
	n, err := s.store.Count(r.caller.UID)
	if err != nil {
		return nil, fmt.Errorf("Store.Count: %w", err)
	}
	info := s.tpm.Info()
	resp := &protocol.StatusResponse{
		AgentVersion: s.version, TPMManufacturer: info.Manufacturer, TPMFirmware: info.Firmware,
		UptimeSeconds: uint64(time.Since(s.started).Seconds()), Keys: uint64(n),
		Connections: uint64(s.conns.count()),
	}
	if r.st.isAdmin(r.caller) {
		all, err := s.store.CountAll()
		if err != nil {
			return nil, fmt.Errorf("Store.CountAll: %w", err)
		}
		resp.KeysPerUID = make(map[uint32]uint64, len(all))
		for uid, c := range all {
			resp.KeysPerUID[uid] = uint64(c)
		}
	}
	return resp, nil
}
