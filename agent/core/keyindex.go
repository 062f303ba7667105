package core

import (
	"fmt"
	"sync"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/protocol/aeadfmt"
)

// AEADDecrypt and ReEncrypt find their key by the key id in the
// ciphertext. The store is indexed by alias, so the core keeps, per uid,
// which alias holds which symmetric key id: filled when a key encrypts,
// and by a scan of the uid's records on a miss. A miss rescans at most
// once per rescanEvery per uid, so a flood of random key ids costs one
// listing of the caller's own records per interval, no more.
const rescanEvery = time.Second

type keyIndex struct {
	mu   sync.Mutex
	uids map[uint32]*uidKeys // guarded by mu
}

type uidKeys struct {
	aliases map[[16]byte]string
	scanned time.Time
}

func newKeyIndex() *keyIndex { return &keyIndex{uids: make(map[uint32]*uidKeys)} }

func (x *keyIndex) entry(uid uint32) *uidKeys {
	u, ok := x.uids[uid]
	if !ok {
		u = &uidKeys{aliases: make(map[[16]byte]string)}
		x.uids[uid] = u
	}
	return u
}

// note records that alias holds rec in uid's namespace.
func (x *keyIndex) note(rec *store.Record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.entry(rec.OwnerUID).aliases[rec.KeyID] = rec.Alias
}

func (x *keyIndex) alias(uid uint32, id [16]byte) (string, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	a, ok := x.entry(uid).aliases[id]
	return a, ok
}

func (x *keyIndex) drop(uid uint32, id [16]byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.entry(uid).aliases, id)
}

// mayScan reports whether uid's records may be listed now, and if so
// marks them scanned.
func (x *keyIndex) mayScan(uid uint32, now time.Time) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	u := x.entry(uid)
	if now.Sub(u.scanned) < rescanEvery {
		return false
	}
	u.scanned = now
	return true
}

// findByKeyID returns the symmetric key of uid whose id is id: another
// uid's key id, a deleted key's and a random one are all ErrKeyNotFound.
func (c *Core) findByKeyID(uid uint32, id [16]byte) (*store.Record, error) {
	if rec, ok := c.byIndex(uid, id); ok {
		return rec, nil
	}
	if !c.aead.ids.mayScan(uid, time.Now()) {
		return nil, fmt.Errorf("key id %x: %w", id, ErrKeyNotFound)
	}
	cursor := ""
	for {
		recs, next, err := c.store.List(uid, cursor, maxListLimit)
		if err != nil {
			return nil, fmt.Errorf("Store.List: %w", err)
		}
		for _, r := range recs {
			if r.Kind() == store.KindSymmetric {
				c.aead.ids.note(r)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if rec, ok := c.byIndex(uid, id); ok {
		return rec, nil
	}
	return nil, fmt.Errorf("key id %x: %w", id, ErrKeyNotFound)
}

// byIndex reads the record the index names for id, checking that the alias
// still holds that key.
func (c *Core) byIndex(uid uint32, id [16]byte) (*store.Record, bool) {
	alias, ok := c.aead.ids.alias(uid, id)
	if !ok {
		return nil, false
	}
	rec, err := c.store.Get(uid, alias)
	if err != nil || rec.KeyID != id {
		c.aead.ids.drop(uid, id)
		return nil, false
	}
	return rec, true
}

// findCiphertextKey is the lookup step of AEADDecrypt and ReEncrypt: the
// namespace as for every key (an admin may name another uid), then the key
// whose id the ciphertext names, of purpose encrypt. A ciphertext too
// short to name a key is DECRYPT_FAILED.
func (c *Core) findCiphertextKey(call *Call, op *operation) error {
	ref := call.Req.(protocol.CiphertextRef)
	owner, err := call.st.namespace(call.caller, ref.KeyNamespace())
	if err != nil {
		return err
	}
	call.ns, call.target = owner, true
	h, err := aeadfmt.ParseHeader(ref.KeyCiphertext())
	if err != nil {
		return ErrDecryptFailed
	}
	rec, err := c.findByKeyID(owner, h.KeyID)
	if err != nil {
		return err
	}
	call.key, call.keyID, call.alias = rec, rec.KeyID[:], logValue(rec.Alias)
	return checkAEADKey(rec)
}
