package core

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/protocol/aeadfmt"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// aes-256-gcm keys: each version is a TPM-made HMAC-SHA256 keyedhash
// object under the SRK (like hmac-sha256 keys); the version's working key
// is TPM2_HMAC(version, aeadfmt.WorkingKeyInput(key_id, version)), derived
// inside the TPM and returned encrypted by the salted session
// (tpm.DeriveKey). Messages are sealed in the aeadfmt format with a
// per-message subkey derived from the working key. Working keys of keys
// without a PIN or PCR policy are cached (keycache.go); the others are
// derived in the TPM for every operation.

const (
	// aeadMessageBound: the daemon adds a version before one has
	// encrypted this many messages. Each message has its own subkey from a
	// 256-bit random salt, so the bound is far inside what the format
	// allows; it bounds what one working key ever protects.
	aeadMessageBound = 1 << 48
	// aeadReserveBlock messages are reserved in the record at a time, so
	// that a crash skips counts rather than reusing them.
	aeadReserveBlock = 1 << 20
	// aeadCostBytes: an AEAD operation is charged one more token per this
	// many bytes of data (AES-GCM and copies of a large frame).
	aeadCostBytes = 256 << 10
)

// aeadState is the core's AEAD state: the working-key cache, the key-id
// index, the message counts and the clock.
type aeadState struct {
	// bufs holds the sealed and opened messages until their response is
	// written (Call.Finish), so that a megabyte message costs no fresh
	// allocation; an opened one is cleared on its way back.
	bufs  protocol.BufferPool
	keys  *workingKeys
	ids   *keyIndex
	msgs  *msgCounts
	bound uint64 // aeadMessageBound; tests lower it
	block uint64 // aeadReserveBlock; tests lower it
	now   func() time.Time
}

func newAEADState(log *slog.Logger, ttl time.Duration) *aeadState {
	return &aeadState{keys: newWorkingKeys(log, ttl), ids: newKeyIndex(),
		msgs: &msgCounts{m: make(map[verKey]*msgCount)}, bound: aeadMessageBound, block: aeadReserveBlock, now: time.Now}
}

type verKey struct {
	keyID   [16]byte
	version uint32
}

// msgCount is one version's messages: next is the count of the next
// message, limit the count reserved in the record. Its own mutex guards
// both and is held across a reservation's store write, so that one key's
// reservation never delays another key's messages.
type msgCount struct {
	mu          sync.Mutex
	next, limit uint64
}

type msgCounts struct {
	mu sync.Mutex // guards m
	m  map[verKey]*msgCount
}

// get returns v's count, made from what the record reserved (taken as
// used: an earlier run may have used it) when first seen.
func (mc *msgCounts) get(k verKey, reserved uint64) *msgCount {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	n, ok := mc.m[k]
	if !ok {
		n = &msgCount{next: reserved, limit: reserved}
		mc.m[k] = n
	}
	return n
}

func (c *Core) aeadEncrypt(ctx context.Context, call *Call, m *protocol.AEADEncryptRequest) (*protocol.AEADEncryptResponse, error) {
	if max := int(call.limits().MaxFrameSize) - protocol.AEADOverhead - 256; len(m.Plaintext) > max {
		return nil, protocol.Errorf(protocol.StatusBadRequest,
			"plaintext of %d bytes is over the %d this daemon encrypts in one request; encrypt large data with a data key (GenerateDataKey, or `tpmkey encrypt`'s streaming format)",
			len(m.Plaintext), max)
	}
	call.noteContext(m.Context)
	// The ciphertext is sealed straight into the response's frame.
	inFrame := func(version uint32, n int) []byte {
		size, off := protocol.AEADEncryptResponseLayout(version, n)
		bp := c.aead.bufs.Get(size)
		call.Frame = bp
		call.done = append(call.done, func() { c.aead.bufs.PutClean(bp) }) // no secret in it
		return (*bp)[off:off]
	}
	ct, v, err := c.aeadSeal(ctx, call, call.key, call.auth(m.PIN), m.Plaintext, m.Context, inFrame)
	if err != nil {
		return nil, err
	}
	return &protocol.AEADEncryptResponse{Ciphertext: ct, Version: v}, nil
}

func (c *Core) aeadDecrypt(ctx context.Context, call *Call, m *protocol.AEADDecryptRequest) (*protocol.AEADDecryptResponse, error) {
	call.noteContext(m.Context)
	// The plaintext is opened straight into the response's frame: one
	// buffer holds it, cleared once in Finish.
	alias := call.key.Alias
	inFrame := func(version uint32, n int) []byte {
		size, off := protocol.AEADDecryptResponseLayout(alias, version, n)
		bp := c.aead.bufs.Get(size)
		call.Frame = bp
		call.done = append(call.done, func() { clearPut(&c.aead.bufs, bp) })
		return (*bp)[off:off]
	}
	pt, v, err := c.aeadOpen(ctx, call, call.key, call.auth(m.PIN), m.Ciphertext, m.Context, inFrame)
	if err != nil {
		return nil, err
	}
	call.Sensitive = true // pt is cleared by Finish (aeadOpen)
	return &protocol.AEADDecryptResponse{Plaintext: pt, Alias: call.key.Alias, Version: v}, nil
}

func (c *Core) generateDataKey(ctx context.Context, call *Call, m *protocol.GenerateDataKeyRequest) (*protocol.GenerateDataKeyResponse, error) {
	call.noteContext(m.Context)
	dk := make([]byte, m.Bytes)
	call.wipe(dk)
	if _, err := rand.Read(dk); err != nil { // the daemon's CSPRNG (getrandom), not the TPM's
		return nil, fmt.Errorf("rand.Read: %w", err)
	}
	ct, v, err := c.aeadSeal(ctx, call, call.key, call.auth(m.PIN), dk, m.Context, nil)
	if err != nil {
		return nil, err
	}
	resp := &protocol.GenerateDataKeyResponse{Ciphertext: ct, Version: v}
	if !m.NoPlaintext {
		resp.Plaintext = dk
		call.Sensitive = true
	}
	return resp, nil
}

// reEncrypt opens the ciphertext with its own key (found by the lookup
// step) and seals the plaintext under to_alias; the plaintext stays in the
// daemon and is wiped.
func (c *Core) reEncrypt(ctx context.Context, call *Call, m *protocol.ReEncryptRequest) (*protocol.ReEncryptResponse, error) {
	call.noteContext(m.FromContext)
	pt, fromVersion, err := c.aeadOpen(ctx, call, call.key, call.auth(m.PIN), m.Ciphertext, m.FromContext, nil)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	if err := checkAlias(m.ToAlias); err != nil {
		return nil, err
	}
	to, err := c.store.Get(call.ns, m.ToAlias)
	if err != nil {
		return nil, fmt.Errorf("Store.Get: %w", err)
	}
	if err := checkAEADKey(to); err != nil {
		return nil, err
	}
	toAuth := tpm.Auth{PIN: call.pinAuth(to.PINScheme, m.ToPIN)}
	for _, p := range to.PCRs {
		toAuth.PCRs = append(toAuth.PCRs, int(p))
	}
	var ct []byte
	var v uint32
	seal := func() error {
		var err error
		ct, v, err = c.aeadSeal(ctx, call, to, toAuth, pt, m.ToContext, nil)
		return err
	}
	switch {
	case to.HasPIN: // the destination's PIN is guarded like the source's
		done, err := c.pins.begin(ctx, call.caller.Owner, to.KeyID[:])
		if err != nil {
			return nil, err
		}
		err = seal()
		done(errors.Is(err, tpm.ErrAuthFail))
		if err != nil {
			return nil, err
		}
	case len(m.ToPIN) > 0:
		return nil, protocol.Errorf(protocol.StatusWrongPIN, "key %q has no PIN; send none", logValue(m.ToAlias))
	default:
		if err := seal(); err != nil {
			return nil, err
		}
	}
	// The audit record names the source key and version; the destination
	// goes with the contexts.
	call.version = fromVersion
	call.noteReEncrypt(m.FromContext, to, v, m.ToContext)
	return &protocol.ReEncryptResponse{Ciphertext: ct, Version: v}, nil
}

// checkAEADKey refuses a key that is not aes-256-gcm.
func checkAEADKey(rec *store.Record) error {
	if rec.Algorithm != protocol.AlgAES256GCM {
		return fmt.Errorf("key %q is not an aes-256-gcm key: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	return checkPurpose(rec, protocol.PurposeEncrypt)
}

// place returns the empty slice, of capacity n at least, that the n bytes
// of a sealed (or opened) message of key version v go into, owned by the
// call until Finish. nil means a pooled buffer of the core's own.
type place func(v uint32, n int) []byte

// aeadSeal encrypts pt under rec's newest enabled version, rotating first when
// the rotation period or the message bound says so.
func (c *Core) aeadSeal(ctx context.Context, call *Call, rec *store.Record, auth tpm.Auth, pt []byte, encCtx map[string]string, dst place) ([]byte, uint32, error) {
	rec, v, err := c.encryptingVersion(ctx, call, rec, auth)
	if err != nil {
		return nil, 0, err
	}
	c.aead.ids.note(rec)
	call.version = v.Number
	h, err := aeadfmt.NewHeader(rec.KeyID, v.Number, rand.Reader)
	if err != nil {
		return nil, 0, err
	}
	mk, err := c.messageKey(ctx, call, rec, v, auth, h)
	if err != nil {
		return nil, 0, err
	}
	defer mk.Wipe()
	if dst == nil {
		dst = func(_ uint32, n int) []byte {
			bp := c.aead.bufs.Get(n)
			// A ciphertext is no secret: back to the pool uncleared.
			call.done = append(call.done, func() { c.aead.bufs.PutClean(bp) })
			return (*bp)[:0]
		}
	}
	ct, err := mk.SealTo(dst(v.Number, aeadfmt.Overhead+len(pt)), pt, encCtx)
	if err != nil {
		return nil, 0, err
	}
	return ct, v.Number, nil
}

// aeadOpen decrypts ct, a ciphertext of rec (the lookup step matched its key
// id), with the version its header names.
func (c *Core) aeadOpen(ctx context.Context, call *Call, rec *store.Record, auth tpm.Auth, ct []byte, encCtx map[string]string, dst place) ([]byte, uint32, error) {
	h, err := aeadfmt.ParseHeader(ct)
	if err != nil {
		return nil, 0, ErrDecryptFailed
	}
	call.version = h.KeyVersion
	v, ok := rec.Version(h.KeyVersion)
	switch {
	case !ok:
		return nil, 0, ErrDecryptFailed // a version the key never had: a tampered header
	case v.Disabled:
		return nil, 0, fmt.Errorf("version %d of %q is disabled: %w", v.Number, rec.Alias, ErrKeyVersionDisabled)
	case v.Number < rec.MinDecryption():
		return nil, 0, fmt.Errorf("version %d of %q is below min_decryption_version %d: %w", v.Number, rec.Alias, rec.MinDecryption(), ErrKeyVersionDisabled)
	}
	mk, err := c.messageKey(ctx, call, rec, v, auth, h)
	if err != nil {
		return nil, 0, err
	}
	defer mk.Wipe()
	if len(ct) < aeadfmt.Overhead {
		return nil, 0, ErrDecryptFailed
	}
	if dst == nil {
		dst = func(_ uint32, n int) []byte {
			bp := c.aead.bufs.Get(n)
			call.done = append(call.done, func() { clearPut(&c.aead.bufs, bp) })
			return (*bp)[:0]
		}
	}
	pt, err := mk.OpenTo(dst(v.Number, len(ct)-aeadfmt.Overhead), ct, encCtx)
	if err != nil {
		return nil, 0, ErrDecryptFailed // the buffer is cleared in Finish all the same
	}
	return pt, v.Number, nil
}

// clearPut clears a buffer that held a secret within its length (nothing
// was written past it; what the pool gave is no secret) and returns it.
func clearPut(p *protocol.BufferPool, bp *[]byte) {
	clear(*bp)
	p.PutClean(bp)
}

// cacheable reports whether rec's working keys may be cached: not with a
// PIN or a PCR policy, whose every use must reach the TPM.
func cacheable(rec *store.Record) bool { return !rec.HasPIN && len(rec.PCRs) == 0 }

// messageKey derives the message key of h from version v's working key,
// cached or derived in the TPM.
func (c *Core) messageKey(ctx context.Context, call *Call, rec *store.Record, v *store.KeyVersion, auth tpm.Auth, h aeadfmt.Header) (*aeadfmt.MessageKey, error) {
	id := wkID{owner: call.caller.Owner, keyID: rec.KeyID, version: v.Number}
	var mk *aeadfmt.MessageKey
	var err error
	if cacheable(rec) && c.aead.keys.use(id, func(wk []byte) { mk, err = aeadfmt.DeriveMessageKey(wk, h) }) {
		return mk, err
	}
	wk, err := c.tpm.DeriveKey(ctx, &v.Blob, auth, aeadfmt.WorkingKeyInput(rec.KeyID, v.Number))
	if err != nil {
		return nil, tpmErr(err)
	}
	mk, err = aeadfmt.DeriveMessageKey(wk, h)
	if cacheable(rec) {
		_ = c.aead.keys.put(id, wk) // clears wk
	} else {
		clear(wk)
	}
	return mk, err
}

// encryptingVersion is the version that encrypts the next message of rec:
// the newest enabled one, after a rotation when the newest is older than
// the key's rotation period or has reached the message bound. Each message
// is counted.
func (c *Core) encryptingVersion(ctx context.Context, call *Call, rec *store.Record, auth tpm.Auth) (*store.Record, *store.KeyVersion, error) {
	rec, v, err := c.rotatedNewest(ctx, call, rec, auth)
	if err != nil {
		return nil, nil, err
	}
	var ok bool
	for range 2 { // the second round counts on the version a rotation made
		full, err := c.countMessage(rec, v)
		if err != nil {
			return nil, nil, err
		}
		if !full {
			return rec, v, nil
		}
		if rec, err = c.autoRotate(ctx, call, rec, auth, v.Number); err != nil {
			return nil, nil, err
		}
		if v, ok = rec.Newest(); !ok {
			return nil, nil, fmt.Errorf("%q has no enabled version: %w", rec.Alias, ErrKeyInvalidated)
		}
	}
	return nil, nil, fmt.Errorf("%q: version %d reached the message bound: %w", rec.Alias, v.Number, ErrBusy)
}

// rotatedNewest is rec's newest enabled version, after a rotation when the
// key's rotation period has passed since that version was made (symmetric
// keys: AEAD encryption and MAC).
func (c *Core) rotatedNewest(ctx context.Context, call *Call, rec *store.Record, auth tpm.Auth) (*store.Record, *store.KeyVersion, error) {
	v, ok := rec.Newest()
	if !ok {
		return nil, nil, fmt.Errorf("%q has no enabled version: %w", rec.Alias, ErrKeyInvalidated)
	}
	if rec.RotationPeriod == 0 || c.aead.now().Sub(v.Created) < rec.RotationPeriod {
		return rec, v, nil
	}
	if len(rec.Versions) >= store.MaxKeyVersions {
		c.logNotRotated(call, rec)
		return rec, v, nil // encrypts on with its newest version, with no lock or store read per message
	}
	rec, err := c.autoRotate(ctx, call, rec, auth, v.Number)
	if err != nil {
		return nil, nil, err
	}
	if v, ok = rec.Newest(); !ok {
		return nil, nil, fmt.Errorf("%q has no enabled version: %w", rec.Alias, ErrKeyInvalidated)
	}
	return rec, v, nil
}

// countMessage counts one message of v, reserving a block in the record
// when the reserved ones are used up. full: v has reached the bound.
func (c *Core) countMessage(rec *store.Record, v *store.KeyVersion) (full bool, err error) {
	n := c.aead.msgs.get(verKey{rec.KeyID, v.Number}, v.Messages)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.next < n.limit {
		n.next++
		return false, nil
	}
	if n.limit+c.aead.block > c.aead.bound {
		return true, nil
	}
	limit, err := c.reserveMessages(rec, v.Number, n.limit+c.aead.block)
	if err != nil {
		return false, err
	}
	n.next, n.limit = max(n.next, limit-c.aead.block)+1, limit
	return false, nil
}

// reserveMessages raises version's reserved count in the stored record to
// at least want, and returns what is stored.
func (c *Core) reserveMessages(rec *store.Record, version uint32, want uint64) (uint64, error) {
	release, err := c.holdAliasWait(rec.OwnerUID, rec.Alias)
	if err != nil {
		return 0, err
	}
	defer release()
	cur, err := c.store.Get(rec.OwnerUID, rec.Alias)
	if err != nil {
		return 0, fmt.Errorf("Store.Get: %w", err)
	}
	if cur.KeyID != rec.KeyID {
		return 0, fmt.Errorf("%q was replaced meanwhile: %w", rec.Alias, ErrKeyNotFound)
	}
	upd := cloneRecord(cur)
	v, ok := upd.Version(version)
	if !ok {
		return 0, fmt.Errorf("%q has no version %d: %w", rec.Alias, version, ErrKeyInvalidated)
	}
	if v.Messages >= want {
		return v.Messages, nil
	}
	v.Messages = want
	if err := c.store.Update(upd); err != nil {
		return 0, fmt.Errorf("Store.Update: %w", err)
	}
	return want, nil
}

// autoRotate adds a version to rec unless another request did since rec
// was read (its newest is no longer seen), and returns the stored record.
func (c *Core) autoRotate(ctx context.Context, call *Call, rec *store.Record, auth tpm.Auth, seen uint32) (*store.Record, error) {
	release, err := c.holdAliasWait(rec.OwnerUID, rec.Alias)
	if err != nil {
		return nil, err
	}
	defer release()
	cur, err := c.store.Get(rec.OwnerUID, rec.Alias)
	if err != nil {
		return nil, fmt.Errorf("Store.Get: %w", err)
	}
	if cur.KeyID != rec.KeyID {
		return nil, fmt.Errorf("%q was replaced meanwhile: %w", rec.Alias, ErrKeyNotFound)
	}
	if newest, ok := cur.Newest(); ok && newest.Number != seen {
		return cur, nil // rotated meanwhile
	}
	if len(cur.Versions) >= store.MaxKeyVersions {
		c.logNotRotated(call, cur)
		return cur, nil // encrypts on with its newest version
	}
	return c.addVersionLocked(ctx, cloneRecord(cur), auth)
}

// holdAliasWait is holdAlias, waiting up to a second for a concurrent
// change of the key (a rotation, a reservation) to end.
func (c *Core) holdAliasWait(ns uint32, alias string) (func(), error) {
	deadline := time.Now().Add(time.Second)
	for {
		release, err := c.holdAlias(ns, alias)
		if err == nil || !errors.Is(err, ErrBusy) || time.Now().After(deadline) {
			return release, err
		}
		time.Sleep(time.Millisecond)
	}
}

// cloneRecord is a deep copy of a stored record (the store's are shared).
func cloneRecord(r *store.Record) *store.Record {
	c := *r
	c.Versions = slices.Clone(r.Versions)
	return &c
}

// aeadCost charges an AEAD operation one token, plus one per
// aeadCostBytes of data, plus one when the working key is not cached (a
// TPM2_HMAC).
func aeadCost(call *Call) int {
	n := costFrame
	var data int
	switch m := call.Req.(type) {
	case *protocol.AEADEncryptRequest:
		data = len(m.Plaintext)
	case *protocol.AEADDecryptRequest:
		data = len(m.Ciphertext)
	case *protocol.ReEncryptRequest:
		data, n = len(m.Ciphertext), n+1 // two keys
	}
	n += data / aeadCostBytes
	if call.key != nil && !cacheable(call.key) {
		n++
	}
	return n
}

// noteContext puts the encryption context in the call's audit record: it
// is not secret, by the protocol's contract.
func (call *Call) noteContext(encCtx map[string]string) {
	if len(encCtx) == 0 {
		return
	}
	call.setAuditContext(safeContext(encCtx))
}

// noteReEncrypt is ReEncrypt's audit context: both contexts and the
// destination key.
func (call *Call) noteReEncrypt(from map[string]string, to *store.Record, toVersion uint32, toCtx map[string]string) {
	call.setAuditContext(map[string]any{"from": safeContext(from), "to": safeContext(toCtx),
		"to_alias": logValue(to.Alias), "to_key_id": fmt.Sprintf("%x", to.KeyID), "to_version": toVersion})
}

// safeContext is encCtx with every string made safe to log.
func safeContext(encCtx map[string]string) map[string]string {
	safe := make(map[string]string, len(encCtx))
	for k, v := range encCtx {
		safe[logValue(k)] = logValue(v)
	}
	return safe
}

func (call *Call) setAuditContext(v any) {
	b, err := json.Marshal(v) // sorted keys, escaped
	if err != nil {
		return
	}
	const maxAuditContext = 2048
	if len(b) > maxAuditContext {
		b = append(b[:maxAuditContext], fmt.Sprintf("...+%d", len(b)-maxAuditContext)...)
	}
	call.auditContext = string(b)
}

// logNotRotated says that rec is due a rotation it cannot have, at most at
// the per-owner rate of failure lines, so that a key at the version limit
// does not write a journal line per message.
func (c *Core) logNotRotated(call *Call, rec *store.Record) {
	if ok, _ := c.failLog.allow(call.caller.Owner); ok {
		c.log.Warn("key not rotated: it has the most versions a key keeps", "alias", logValue(rec.Alias),
			"key_id", fmt.Sprintf("%x", rec.KeyID))
	}
}
