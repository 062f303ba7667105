package core

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

const (
	maxListLimit = 1000
	maxRandom    = 1024
)

func (c *Core) hello(_ context.Context, call *Call, m *protocol.HelloRequest) (*protocol.HelloResponse, error) {
	if !slices.Contains(m.Versions, protocol.Version1) {
		return nil, protocol.Errorf(protocol.StatusUnsupportedVersion, "this agent speaks protocol version 1 only")
	}
	info := c.tpm.Info()
	algs := make([]string, 0, len(info.Algorithms))
	for _, a := range info.Algorithms {
		if n := algToWire(a); n != "" {
			algs = append(algs, n)
		}
		if a == tpm.HMACSHA256 { // aes-256-gcm keys are HMAC keys in the TPM
			algs = append(algs, protocol.AlgAES256GCM)
		}
	}
	return &protocol.HelloResponse{
		Version: protocol.Version1, AgentVersion: c.version,
		TPMManufacturer: info.Manufacturer, TPMFirmware: info.Firmware,
		Algorithms: algs, Operations: c.ops.names(), MaxFrameSize: call.limits().MaxFrameSize,
	}, nil
}

func (c *Core) generateKey(ctx context.Context, call *Call, m *protocol.GenerateKeyRequest) (*protocol.GenerateKeyResponse, error) {
	alg, ok := algFromWire(m.Algorithm)
	if m.Algorithm == protocol.AlgAES256GCM {
		alg, ok = tpm.HMACSHA256, true
	}
	if !ok || alg == tpm.Sealed {
		return nil, protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "algorithm %q cannot be generated", m.Algorithm)
	}
	purposes, wirePurposes, err := keyPurposes(m.Algorithm, alg, m.Purposes)
	if err != nil {
		return nil, err
	}
	rotation, err := rotationPeriod(m)
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
		return nil, protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "this TPM does not support %s", m.Algorithm)
	}
	exportTo, err := call.st.exportTarget(m)
	if err != nil {
		return nil, err
	}
	release, err := c.reserveCreate(call, m.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	blob, pub, err := c.tpm.CreateKey(ctx, tpm.KeySpec{Algorithm: alg, Purposes: purposes, PIN: call.pinAuth(store.PINSHA256, m.PIN), PCRs: pcrInts,
		ExportTo: exportTo})
	if err != nil {
		return nil, tpmErr(err)
	}
	rec := &store.Record{Alias: m.Alias, OwnerUID: call.ns, Algorithm: m.Algorithm, Purposes: wirePurposes,
		HasPIN: len(m.PIN) > 0, PINScheme: pinScheme(m.PIN), PCRs: pcrs, ExportTo: exportTo}
	if alg == tpm.HMACSHA256 {
		// A symmetric key's blobs are its versions; this is version 1.
		rec.Versions = []store.KeyVersion{{Number: 1, Created: c.aead.now().UTC().Truncate(time.Second), Blob: *blob}}
		rec.RotationPeriod = rotation
	} else {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("x509.MarshalPKIXPublicKey: %w", err)
		}
		rec.PublicDER, rec.Blob = der, *blob
	}
	if err := c.createRecord(call, rec); err != nil {
		return nil, err
	}
	return &protocol.GenerateKeyResponse{Key: keyInfo(rec)}, nil
}

// createRecord gives rec its id and creation time and stores it; when the
// store refuses, the new blob is dropped from the TPM's cache.
func (c *Core) createRecord(call *Call, rec *store.Record) error {
	if rec.KeyID == ([16]byte{}) { // a restored key keeps its id (restoredKeyID checked it is free)
		if _, err := rand.Read(rec.KeyID[:]); err != nil {
			return fmt.Errorf("rand.Read: %w", err)
		}
	}
	rec.Created = time.Now().UTC().Truncate(time.Second)
	if err := c.store.Create(rec, call.limits().MaxKeysPerUID); err != nil {
		c.tpm.Forget(&rec.Blob)
		return fmt.Errorf("Store.Create: %w", err)
	}
	call.keyID = rec.KeyID[:]
	return nil
}

func (c *Core) getKey(_ context.Context, call *Call, _ *protocol.GetKeyRequest) (*protocol.GetKeyResponse, error) {
	return &protocol.GetKeyResponse{Key: keyInfo(call.key)}, nil
}

func (c *Core) listKeys(_ context.Context, call *Call, m *protocol.ListKeysRequest) (*protocol.ListKeysResponse, error) {
	uid, err := call.st.namespace(call.caller, m.UID)
	if err != nil {
		return nil, err
	}
	call.ns, call.target = uid, true
	limit := int(min(m.Limit, maxListLimit)) // 0: the store's DefaultListLimit
	recs, next, err := c.store.List(uid, m.Cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("Store.List: %w", err)
	}
	resp := &protocol.ListKeysResponse{Keys: make([]protocol.KeyInfo, len(recs)), NextCursor: next}
	for i, rec := range recs {
		resp.Keys[i] = keyInfo(rec)
	}
	return fitPage(resp, call.limits().MaxFrameSize)
}

func (c *Core) deleteKey(_ context.Context, call *Call, m *protocol.DeleteKeyRequest) (*protocol.DeleteKeyResponse, error) {
	rec, err := c.store.Delete(call.ns, m.Alias)
	if err != nil {
		return nil, fmt.Errorf("Store.Delete: %w", err)
	}
	if rec.KeyID != ([16]byte{}) { // a refused record has no trustworthy id
		call.keyID = rec.KeyID[:]
	}
	c.forgetKey(rec)
	return &protocol.DeleteKeyResponse{}, nil
}

func (c *Core) getRandom(ctx context.Context, _ *Call, m *protocol.GetRandomRequest) (*protocol.GetRandomResponse, error) {
	if m.N < 1 || m.N > maxRandom {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "n must be 1..%d", maxRandom)
	}
	b, err := c.tpm.Random(ctx, int(m.N))
	if err != nil {
		return nil, tpmErr(err)
	}
	return &protocol.GetRandomResponse{Bytes: b}, nil
}

func (c *Core) status(ctx context.Context, call *Call, _ *protocol.StatusRequest) (*protocol.StatusResponse, error) {
	n, err := c.store.Count(call.caller.UID)
	if err != nil {
		return nil, fmt.Errorf("Store.Count: %w", err)
	}
	info := c.tpm.Info()
	resp := &protocol.StatusResponse{
		AgentVersion: c.version, TPMManufacturer: info.Manufacturer, TPMFirmware: info.Firmware,
		UptimeSeconds: uint64(time.Since(c.started).Seconds()), Keys: uint64(n),
		Connections: uint64(c.conns.ofOwner(call.caller.Owner)),
		SRKPublic:   c.tpm.SRKPublic(), SRKName: c.tpm.SRKName(),
	}
	if call.st.isAdmin(call.caller) {
		resp.Connections = uint64(c.conns.count())
		all, err := c.store.CountAll()
		if err != nil {
			return nil, fmt.Errorf("Store.CountAll: %w", err)
		}
		resp.KeysPerUID = make(map[uint32]uint64, len(all))
		for uid, c := range all {
			resp.KeysPerUID[uid] = uint64(c)
		}
		// Status must answer when the TPM does not (TPM_CHANGED, a hang):
		// without it, tpm_lockout is left out.
		// The PIN guard's read, at most a second old: an admin polling
		// Status costs no TPM command per request.
		if da, err := c.pins.lockout(ctx); err == nil {
			resp.TPMLockout = &protocol.LockoutInfo{Counter: da.Counter, MaxTries: da.MaxTries,
				IntervalSeconds: uint64(da.Interval.Seconds()), RecoverySeconds: uint64(da.Recovery.Seconds()),
				InLockout: da.InLock}
		}
		resp.TPMQueue = uint64(c.tpm.QueueLen())
	}
	return resp, nil
}
