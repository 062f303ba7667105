package core

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// The ssh operations (protocol/ssh.go, docs §6.29–6.32). Every one of
// them fails while the caller's agent is locked, but SSHAgent unlock.

// costAgentUnlock makes guessing a lock's passphrase slow: at the default
// rate, ten tries a second.
const costAgentUnlock = 100

func sshAgentCost(call *Call) int {
	if call.Req.(*protocol.SSHAgentRequest).Action == protocol.SSHAgentUnlock {
		return costAgentUnlock
	}
	return costFrame
}

func (c *Core) sshKey(ctx context.Context, call *Call, m *protocol.SSHKeyRequest) (*protocol.SSHKeyResponse, error) {
	if c.ssh.locked(call.caller.UID) {
		return nil, ErrAgentLocked
	}
	rec := call.key
	if rec.Kind() != store.KindKey {
		return nil, fmt.Errorf("key %q: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	switch m.Action {
	case protocol.SSHEnable:
		if m.Confirm && call.st.cfg.SSHAskpass == "" {
			return nil, ErrSSHNoAskpass
		}
		mark, err := sshMarking(rec, m)
		if err != nil {
			return nil, err
		}
		if rec, err = c.updateSSH(rec, mark); err != nil {
			return nil, err
		}
	case protocol.SSHDisable:
		c.ssh.forgetPIN(call.caller.UID, rec.KeyID)
		var err error
		if rec, err = c.updateSSH(rec, nil); err != nil {
			return nil, err
		}
	case protocol.SSHUnlock:
		if err := c.sshUnlockPIN(ctx, call, m); err != nil {
			return nil, err
		}
	case protocol.SSHForget:
		c.ssh.forgetPIN(call.caller.UID, rec.KeyID)
	default:
		return nil, protocol.Errorf(protocol.StatusBadRequest, "unknown SSHKey action %q", m.Action)
	}
	return &protocol.SSHKeyResponse{Key: c.sshKeyInfo(call.caller.UID, rec)}, nil
}

// sshMarking checks an enable request: a comment of at most 256 bytes, an
// end in the future, and a certificate of this very key.
func sshMarking(rec *store.Record, m *protocol.SSHKeyRequest) (*store.SSHMarking, error) {
	mark := &store.SSHMarking{Comment: m.Comment, Confirm: m.Confirm}
	if len(m.Comment) > 256 {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "comment longer than 256 bytes")
	}
	if m.NotAfter != 0 {
		mark.NotAfter = time.Unix(m.NotAfter, 0).UTC()
		if !mark.NotAfter.After(time.Now()) {
			return nil, protocol.Errorf(protocol.StatusBadRequest, "not_after is in the past")
		}
	}
	if len(m.Certificate) > 0 {
		if err := checkCertificate(rec, m.Certificate); err != nil {
			return nil, err
		}
		mark.Certificate = bytes.Clone(m.Certificate)
	}
	ds, err := sshDestinations(m.Destinations)
	if err != nil {
		return nil, err
	}
	mark.Destinations = ds
	return mark, nil
}

func checkCertificate(rec *store.Record, cert []byte) error {
	pk, err := ssh.ParsePublicKey(cert)
	if err != nil {
		return protocol.Errorf(protocol.StatusBadRequest, "certificate: %v", err)
	}
	crt, ok := pk.(*ssh.Certificate)
	if !ok {
		return protocol.Errorf(protocol.StatusBadRequest, "certificate: not an OpenSSH certificate")
	}
	own, err := sshPublicKey(rec)
	if err != nil {
		return err
	}
	if !bytes.Equal(crt.Key.Marshal(), own.Marshal()) {
		return protocol.Errorf(protocol.StatusBadRequest, "certificate is for another key than %q", rec.Alias)
	}
	return nil
}

// sshPublicKey is rec's public key in ssh's terms.
func sshPublicKey(rec *store.Record) (ssh.PublicKey, error) {
	pub, err := publicKey(rec)
	if err != nil {
		return nil, err
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("ssh.NewPublicKey: %w", err)
	}
	return pk, nil
}

// updateSSH stores rec with its marking replaced; the record returned is
// the one stored.
func (c *Core) updateSSH(rec *store.Record, mark *store.SSHMarking) (*store.Record, error) {
	if rec.SSH == nil && mark == nil {
		return rec, nil
	}
	cp := *rec // the stored record is shared: never written in place
	cp.SSH = mark
	if err := c.store.Update(&cp); err != nil {
		return nil, fmt.Errorf("Store.Update: %w", err)
	}
	return &cp, nil
}

// sshUnlockPIN checks the PIN in the TPM (a signature over a random digest,
// inside the wrong-PIN budget like any PIN use) and caches the auth value
// derived from it, never the PIN, in daemon memory.
func (c *Core) sshUnlockPIN(ctx context.Context, call *Call, m *protocol.SSHKeyRequest) error {
	rec := call.key
	if !rec.HasPIN {
		return protocol.Errorf(protocol.StatusBadRequest, "key %q has no PIN; it needs no unlock", rec.Alias)
	}
	d := time.Duration(m.Seconds) * time.Second
	switch {
	case d == 0:
		d = defaultPINCache
	case d > maxPINCache:
		return protocol.Errorf(protocol.StatusBadRequest, "seconds: at most %d", int(maxPINCache/time.Second))
	}
	auth := call.auth(m.PIN)
	digest := make([]byte, sha256.Size)
	rand.Read(digest)
	if _, err := c.tpm.Sign(ctx, &rec.Blob, auth, digest, tpm.SignOptions{Hash: crypto.SHA256}); err != nil {
		return tpmErr(err)
	}
	_, err := c.ssh.cachePIN(call.caller.UID, rec.KeyID, auth.PIN, d)
	return err
}

// sshKeyInfo is rec's KeyInfo with the end of its cached authorization.
func (c *Core) sshKeyInfo(uid uint32, rec *store.Record) protocol.KeyInfo {
	ki := keyInfo(rec)
	if ki.SSH == nil {
		return ki
	}
	if auth, until, ok := c.ssh.cachedPIN(uid, rec.KeyID); ok {
		clear(auth)
		ki.SSH.UnlockedUntil = until.Unix()
	}
	return ki
}

// sshInfo is rec's marking on the wire.
func sshInfo(rec *store.Record) *protocol.SSHInfo {
	if rec.SSH == nil {
		return nil
	}
	si := &protocol.SSHInfo{Comment: rec.SSH.Comment, Certificate: rec.SSH.Certificate,
		Destinations: protocolDestinations(rec.SSH.Destinations), Confirm: rec.SSH.Confirm}
	if !rec.SSH.NotAfter.IsZero() {
		si.NotAfter = rec.SSH.NotAfter.Unix()
	}
	return si
}

func (c *Core) sshList(_ context.Context, call *Call, m *protocol.SSHListRequest) (*protocol.SSHListResponse, error) {
	uid := call.caller.UID
	call.ns, call.target = uid, true
	if c.ssh.locked(uid) {
		return nil, ErrAgentLocked
	}
	conn, err := parseSSHConn(m.Connection)
	if err != nil {
		return nil, err
	}
	limit := int(min(m.Limit, maxListLimit))
	recs, next, err := c.store.List(uid, m.Cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("Store.List: %w", err)
	}
	page := &protocol.ListKeysResponse{Keys: []protocol.KeyInfo{}, NextCursor: next}
	now := time.Now()
	for _, rec := range recs {
		// A destination-constrained key this connection may not use is
		// not shown to it, as OpenSSH's agent hides it.
		if rec.SSH != nil && !rec.SSH.Expired(now) && rec.Kind() == store.KindKey &&
			sshPermitted(rec.SSH.Destinations, conn, nil) == nil {
			page.Keys = append(page.Keys, c.sshKeyInfo(uid, rec))
		}
	}
	// A page cut short must go on after the last key it keeps, not after
	// the last one the store read.
	if len(page.Keys) > 0 {
		last := page.Keys[len(page.Keys)-1].Alias
		if page, err = fitPage(page, call.limits().MaxFrameSize); err != nil {
			return nil, err
		}
		if kept := page.Keys[len(page.Keys)-1].Alias; kept != last {
			page.NextCursor = store.CursorAfter(kept)
		}
	}
	return &protocol.SSHListResponse{Keys: page.Keys, NextCursor: page.NextCursor}, nil
}

// sshHash is the hash an ssh signature algorithm signs with, on a key of
// algorithm alg. ssh-rsa (SHA-1) is refused unless ssh_allow_sha1.
func sshHash(sshAlg, alg string, allowSHA1 bool) (crypto.Hash, error) {
	var h crypto.Hash
	var want []string
	switch sshAlg {
	case protocol.SSHAlgECDSAP256:
		h, want = crypto.SHA256, []string{protocol.AlgECP256}
	case protocol.SSHAlgECDSAP384:
		h, want = crypto.SHA384, []string{protocol.AlgECP384}
	case protocol.SSHAlgRSASHA256:
		h, want = crypto.SHA256, []string{protocol.AlgRSA2048, protocol.AlgRSA3072}
	case protocol.SSHAlgRSASHA512:
		h, want = crypto.SHA512, []string{protocol.AlgRSA2048, protocol.AlgRSA3072}
	case protocol.SSHAlgRSASHA1:
		if !allowSHA1 {
			return 0, ErrSSHSHA1
		}
		h, want = crypto.SHA1, []string{protocol.AlgRSA2048, protocol.AlgRSA3072}
	default:
		return 0, protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "unknown ssh signature algorithm %q", sshAlg)
	}
	for _, w := range want {
		if w == alg {
			return h, nil
		}
	}
	return 0, protocol.Errorf(protocol.StatusUnsupportedAlgorithm, "%s does not sign with a %s key", sshAlg, alg)
}

func (c *Core) sshSign(ctx context.Context, call *Call, m *protocol.SSHSignRequest) (*protocol.SSHSignResponse, error) {
	uid := call.caller.UID
	if c.ssh.locked(uid) {
		return nil, ErrAgentLocked
	}
	rec := call.key
	switch {
	case rec.SSH == nil:
		return nil, fmt.Errorf("key %q: %w", rec.Alias, ErrSSHNotMarked)
	case rec.SSH.Expired(time.Now()):
		return nil, fmt.Errorf("key %q: %w", rec.Alias, ErrSSHExpired)
	case len(m.KeyID) > 0 && !bytes.Equal(m.KeyID, rec.KeyID[:]):
		return nil, fmt.Errorf("key %q is another key now: %w", rec.Alias, ErrKeyNotFound)
	}
	h, err := sshHash(m.Algorithm, rec.Algorithm, call.st.cfg.SSHAllowSHA1)
	if err != nil {
		return nil, err
	}
	conn, err := parseSSHConn(m.Connection)
	if err != nil {
		return nil, err
	}
	if err := sshSignPermitted(rec, conn, m.Data); err != nil {
		if ok, _ := c.failLog.allow(call.caller.Owner); ok {
			c.log.Info("ssh signature refused by the key's destination constraints",
				"op", call.Op.String(), "uid", uid, "alias", rec.Alias, "err", err)
		}
		return nil, fmt.Errorf("key %q: %w", rec.Alias, err)
	}
	a := call.auth(nil)
	if rec.HasPIN {
		pin, _, ok := c.ssh.cachedPIN(uid, rec.KeyID)
		if !ok {
			if ok, _ := c.failLog.allow(call.caller.Owner); ok {
				c.log.Info("ssh signature refused: the key has a PIN and is not unlocked; run tpmkey ssh unlock",
					"op", call.Op.String(), "uid", uid, "alias", rec.Alias)
			}
			return nil, fmt.Errorf("key %q: %w", rec.Alias, ErrSSHPINLocked)
		}
		call.wipe(pin)
		a.PIN = pin
	}
	if rec.SSH.Confirm {
		if err := c.sshConfirm(ctx, call, rec, call.st.cfg.SSHAskpass); err != nil {
			return nil, err
		}
	}
	var digest []byte
	switch h {
	case crypto.SHA1:
		d := sha1.Sum(m.Data)
		digest = d[:]
	case crypto.SHA384:
		d := sha512.Sum384(m.Data)
		digest = d[:]
	case crypto.SHA512:
		d := sha512.Sum512(m.Data)
		digest = d[:]
	default:
		d := sha256.Sum256(m.Data)
		digest = d[:]
	}
	sig, err := c.tpm.Sign(ctx, &rec.Blob, a, digest, tpm.SignOptions{Hash: h})
	if errors.Is(err, tpm.ErrAuthFail) {
		c.ssh.forgetPIN(uid, rec.KeyID) // the PIN changed under us; unlock again
	}
	if err != nil {
		return nil, tpmErr(err)
	}
	return &protocol.SSHSignResponse{Signature: sig}, nil
}

func (c *Core) sshAgent(_ context.Context, call *Call, m *protocol.SSHAgentRequest) (*protocol.SSHAgentResponse, error) {
	uid := call.caller.UID
	call.ns, call.target = uid, true
	switch m.Action {
	case protocol.SSHAgentLock:
		if !c.ssh.lock(uid, m.Passphrase) {
			return nil, ErrAgentLocked
		}
		return &protocol.SSHAgentResponse{Locked: true}, nil
	case protocol.SSHAgentUnlock:
		if !c.ssh.unlock(uid, m.Passphrase) {
			return nil, fmt.Errorf("not unlocked (not locked, or another passphrase): %w", ErrAgentLocked)
		}
		return &protocol.SSHAgentResponse{}, nil
	case protocol.SSHAgentCheck:
		if c.ssh.locked(uid) {
			return nil, ErrAgentLocked
		}
		if m.Confirm && call.st.cfg.SSHAskpass == "" {
			return nil, ErrSSHNoAskpass
		}
		return &protocol.SSHAgentResponse{}, nil
	}
	return nil, protocol.Errorf(protocol.StatusBadRequest, "unknown SSHAgent action %q", m.Action)
}
