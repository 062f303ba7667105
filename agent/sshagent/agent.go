package sshagent

import (
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// maxListPages bounds the SSHList pages one listing reads (1000 keys a
// uid by default, in pages of up to 100).
const maxListPages = 64

// session is what the agent needs of a *core.Session (a fake in the fuzz
// target).
type session interface {
	Do(ctx context.Context, call *core.Call) core.Result
}

// sshAgent is the agent of one connection: every method is one or more
// core Calls on the connection's Session.
type sshAgent struct {
	ctx  context.Context
	sess session
	log  *slog.Logger
	// closeAsked is set when the core asks for the connection to close.
	closeAsked func()

	mu   sync.Mutex        // guards keys, binds and bindTried
	keys map[string]keyRef // public key (or certificate) blob → key, from the last listing
	// binds are the verified session-bind@openssh.com of this connection,
	// in order (dest.go); bindTried is set by the first one tried.
	binds     []protocol.SSHBind
	bindTried bool
}

// keyRef is a listed key: the alias and id it is stored under.
type keyRef struct {
	alias string
	keyID []byte
	pub   ssh.PublicKey // the key itself, for a certificate
}

var _ agent.ExtendedAgent = (*sshAgent)(nil)

// do runs one call through the core and turns a failure into a
// *protocol.Error.
func (a *sshAgent) do(op protocol.Op, req any) (any, error) {
	call := &core.Call{Op: op, Req: req}
	res := a.sess.Do(a.ctx, call)
	call.Finish()
	if res.Close {
		a.closeAsked()
	}
	if res.Status != protocol.StatusOK {
		return nil, &protocol.Error{Status: res.Status, Message: res.Message}
	}
	return res.Resp, nil
}

// entry is one listed key with what the agent protocol shows of it.
type entry struct {
	ref     keyRef
	key     *agent.Key
	certKey *agent.Key // nil: no certificate
}

// list reads every marked key of the caller, page by page.
func (a *sshAgent) list() ([]entry, error) {
	var out []entry
	cursor := ""
	for range maxListPages {
		resp, err := a.do(protocol.OpSSHList, &protocol.SSHListRequest{Cursor: cursor, Connection: a.connection()})
		if err != nil {
			return nil, err
		}
		page := resp.(*protocol.SSHListResponse)
		for i := range page.Keys {
			if e, ok := a.entryOf(&page.Keys[i]); ok {
				out = append(out, e)
			}
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	keys := make(map[string]keyRef, len(out))
	for _, e := range out {
		keys[string(e.key.Blob)] = e.ref
		if e.certKey != nil {
			keys[string(e.certKey.Blob)] = e.ref
		}
	}
	a.mu.Lock()
	a.keys = keys
	a.mu.Unlock()
	return out, nil
}

func (a *sshAgent) entryOf(ki *protocol.KeyInfo) (entry, bool) {
	pub, err := x509.ParsePKIXPublicKey(ki.PublicKey)
	if err != nil {
		return entry{}, false
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		return entry{}, false
	}
	comment := ki.Alias
	if ki.SSH != nil && ki.SSH.Comment != "" {
		comment = ki.SSH.Comment
	}
	e := entry{ref: keyRef{alias: ki.Alias, keyID: ki.KeyID, pub: pk},
		key: &agent.Key{Format: pk.Type(), Blob: pk.Marshal(), Comment: comment}}
	if ki.SSH != nil && len(ki.SSH.Certificate) > 0 {
		if cert, err := ssh.ParsePublicKey(ki.SSH.Certificate); err == nil {
			e.certKey = &agent.Key{Format: cert.Type(), Blob: cert.Marshal(), Comment: comment}
		}
	}
	return e, true
}

// List lists the caller's keys marked for ssh, each certificate next to
// its key.
func (a *sshAgent) List() ([]*agent.Key, error) {
	es, err := a.list()
	if err != nil {
		return nil, err
	}
	var keys []*agent.Key
	for _, e := range es {
		keys = append(keys, e.key)
		if e.certKey != nil {
			keys = append(keys, e.certKey)
		}
	}
	return keys, nil
}

// find returns the marked key with blob (a key or its certificate),
// reading the list again when the last one does not hold it.
func (a *sshAgent) find(blob []byte) (keyRef, error) {
	a.mu.Lock()
	ref, ok := a.keys[string(blob)]
	a.mu.Unlock()
	if ok {
		return ref, nil
	}
	if _, err := a.list(); err != nil {
		return keyRef{}, err
	}
	a.mu.Lock()
	ref, ok = a.keys[string(blob)]
	a.mu.Unlock()
	if !ok {
		return keyRef{}, ErrUnknownKey
	}
	return ref, nil
}

func (a *sshAgent) Sign(key ssh.PublicKey, data []byte) (*ssh.Signature, error) {
	return a.SignWithFlags(key, data, 0)
}

// SignWithFlags signs with the key whose public key (or certificate) is
// key. RSA keys sign rsa-sha2-256 or rsa-sha2-512 as the flags ask; ssh-rsa
// (SHA-1, no flag) is the core's to refuse.
func (a *sshAgent) SignWithFlags(key ssh.PublicKey, data []byte, flags agent.SignatureFlags) (*ssh.Signature, error) {
	ref, err := a.find(key.Marshal())
	if err != nil {
		return nil, err
	}
	alg := sshAlgorithm(ref.pub.Type(), flags)
	resp, err := a.do(protocol.OpSSHSign, &protocol.SSHSignRequest{Alias: ref.alias, Algorithm: alg, Data: data, KeyID: ref.keyID,
		Connection: a.connection()})
	if err != nil {
		a.forget(key.Marshal())
		return nil, err
	}
	return sshSignature(alg, resp.(*protocol.SSHSignResponse).Signature)
}

// forget drops a key from the listing cache after a failed signature, so
// that the next one reads the list again.
func (a *sshAgent) forget(blob []byte) {
	a.mu.Lock()
	delete(a.keys, string(blob))
	a.mu.Unlock()
}

func sshAlgorithm(keyType string, flags agent.SignatureFlags) string {
	if keyType != ssh.KeyAlgoRSA {
		return keyType
	}
	switch {
	case flags&agent.SignatureFlagRsaSha512 != 0:
		return ssh.KeyAlgoRSASHA512
	case flags&agent.SignatureFlagRsaSha256 != 0:
		return ssh.KeyAlgoRSASHA256
	}
	return ssh.KeyAlgoRSA
}

// sshSignature is the TPM's signature (ECDSA ASN.1 DER, RSA PKCS #1 v1.5)
// in ssh's encoding (RFC 5656 §3.1.2, RFC 8332 §3).
func sshSignature(alg string, sig []byte) (*ssh.Signature, error) {
	if alg == ssh.KeyAlgoRSA || alg == ssh.KeyAlgoRSASHA256 || alg == ssh.KeyAlgoRSASHA512 {
		return &ssh.Signature{Format: alg, Blob: sig}, nil
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &rs); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("ECDSA signature from the core: not DER")
	}
	return &ssh.Signature{Format: alg, Blob: ssh.Marshal(&rs)}, nil
}

// Remove takes the key off ssh (ssh-add -d); the key stays in the TPM.
func (a *sshAgent) Remove(key ssh.PublicKey) error {
	ref, err := a.find(key.Marshal())
	if err != nil {
		return err
	}
	_, err = a.do(protocol.OpSSHKey, &protocol.SSHKeyRequest{Alias: ref.alias, Action: protocol.SSHDisable})
	a.forget(key.Marshal())
	return err
}

// RemoveAll takes every key off ssh (ssh-add -D); none is deleted.
func (a *sshAgent) RemoveAll() error {
	es, err := a.list()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range es {
		if _, err := a.do(protocol.OpSSHKey, &protocol.SSHKeyRequest{Alias: e.ref.alias, Action: protocol.SSHDisable}); err != nil {
			errs = append(errs, err)
		}
	}
	a.mu.Lock()
	a.keys = nil
	a.mu.Unlock()
	return errors.Join(errs...)
}

func (a *sshAgent) Lock(passphrase []byte) error {
	_, err := a.do(protocol.OpSSHAgent, &protocol.SSHAgentRequest{Action: protocol.SSHAgentLock, Passphrase: passphrase})
	return err
}

func (a *sshAgent) Unlock(passphrase []byte) error {
	_, err := a.do(protocol.OpSSHAgent, &protocol.SSHAgentRequest{Action: protocol.SSHAgentUnlock, Passphrase: passphrase})
	return err
}

func (a *sshAgent) Signers() ([]ssh.Signer, error) { return nil, ErrSigners }

// Extension serves session-bind@openssh.com, asked of the core first so
// that a locked agent refuses it like everything else; every other
// extension is unsupported.
func (a *sshAgent) Extension(extensionType string, contents []byte) ([]byte, error) {
	if extensionType != extSessionBind {
		return nil, agent.ErrExtensionUnsupported
	}
	// A binding refused by the lock counts as a failed one, as any other.
	a.mu.Lock()
	a.bindTried = true
	a.mu.Unlock()
	if _, err := a.do(protocol.OpSSHAgent, &protocol.SSHAgentRequest{Action: protocol.SSHAgentCheck}); err != nil {
		return nil, err
	}
	return nil, a.sessionBind(contents)
}
