package sshagent

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// The destination constraints of ssh-add -h and the session bindings they
// are checked against (OpenSSH's PROTOCOL.agent). This file only parses
// and verifies the wire; whether a key may be used is the core's to
// decide (agent/core/ssh_dest.go).

const (
	extRestrictDestination = "restrict-destination-v00@openssh.com"
	extSessionBind         = "session-bind@openssh.com"

	maxBinds      = 16  // OpenSSH's AGENT_MAX_SESSION_IDS
	maxSessionID  = 128 // OpenSSH's AGENT_MAX_SID_LEN
	maxUserLen    = 256 // OpenSSH's AGENT_USER_CONSTRAINT_MAX_LEN
	maxHopKeys    = 16  // the store's bound (store.MaxSSHHopKeys)
	maxConstraint = 32  // the store's bound (store.MaxSSHDestinations)
)

// parseDestinations parses the details of a restrict-destination-v00
// constraint extension: constraints one after another, each a string of
// (string from-hop, string to-hop, string reserved).
func parseDestinations(b []byte) ([]protocol.SSHDestination, error) {
	if len(b) == 0 {
		// OpenSSH would take the key as unconstrained; a constraint that
		// names no destination is refused rather than dropped.
		return nil, fmt.Errorf("%w: %s with no destination", ErrConstraint, extRestrictDestination)
	}
	var out []protocol.SSHDestination
	for len(b) > 0 {
		if len(out) >= maxConstraint {
			return nil, fmt.Errorf("%w: more than %d destinations", ErrConstraint, maxConstraint)
		}
		c, rest, ok := wireString(b)
		if !ok {
			return nil, fmt.Errorf("%w: %s: bad encoding", ErrConstraint, extRestrictDestination)
		}
		b = rest
		from, c, ok1 := wireString(c)
		to, c, ok2 := wireString(c)
		reserved, c, ok3 := wireString(c)
		if !ok1 || !ok2 || !ok3 || len(c) != 0 {
			return nil, fmt.Errorf("%w: %s: bad encoding", ErrConstraint, extRestrictDestination)
		}
		if len(reserved) != 0 {
			return nil, fmt.Errorf("%w: %s: unsupported extensions", ErrConstraint, extRestrictDestination)
		}
		f, err := parseHop(from)
		if err != nil {
			return nil, err
		}
		t, err := parseHop(to)
		if err != nil {
			return nil, err
		}
		if f.user != "" {
			return nil, fmt.Errorf("%w: %s: a user in \"from\"", ErrConstraint, extRestrictDestination)
		}
		out = append(out, protocol.SSHDestination{FromHost: f.host, FromKeys: f.keys, FromCAKeys: f.caKeys,
			ToUser: t.user, ToHost: t.host, ToKeys: t.keys, ToCAKeys: t.caKeys})
	}
	return out, nil
}

// hop is one end of a destination as the wire has it.
type hop struct {
	user, host   string
	keys, caKeys [][]byte
}

// parseHop parses string user, string host, string reserved, then
// (string key, bool is-ca) to the end.
func parseHop(b []byte) (hop, error) {
	bad := fmt.Errorf("%w: %s: bad hop", ErrConstraint, extRestrictDestination)
	user, b, ok1 := wireString(b)
	host, b, ok2 := wireString(b)
	reserved, b, ok3 := wireString(b)
	if !ok1 || !ok2 || !ok3 || len(user) > maxUserLen {
		return hop{}, bad
	}
	if len(reserved) != 0 {
		return hop{}, fmt.Errorf("%w: %s: unsupported hop extensions", ErrConstraint, extRestrictDestination)
	}
	h := hop{user: string(user), host: string(host)}
	for len(b) > 0 {
		key, rest, ok := wireString(b)
		if !ok || len(rest) < 1 || len(h.keys)+len(h.caKeys) >= maxHopKeys {
			return hop{}, bad
		}
		if _, err := ssh.ParsePublicKey(key); err != nil {
			return hop{}, fmt.Errorf("%w: %s: host key: %v", ErrConstraint, extRestrictDestination, err)
		}
		if rest[0] != 0 {
			h.caKeys = append(h.caKeys, bytes.Clone(key))
		} else {
			h.keys = append(h.keys, bytes.Clone(key))
		}
		b = rest[1:]
	}
	return h, nil
}

func wireString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

// sessionBind verifies a session-bind@openssh.com (the host key's
// signature over the session id) and records it for the connection, with
// OpenSSH's rules: once a binding for authentication (not forwarding) is
// recorded, no other is accepted; the same session id and key again is
// accepted and recorded once; the same session id with another key is
// refused; at most 16. A failed binding is remembered: constrained keys
// are then refused on this connection.
func (a *sshAgent) sessionBind(contents []byte) error {
	a.mu.Lock()
	a.bindTried = true
	a.mu.Unlock()
	var msg struct {
		HostKey    []byte
		SessionID  []byte
		Signature  []byte
		Forwarding bool
	}
	if err := ssh.Unmarshal(contents, &msg); err != nil {
		return fmt.Errorf("%s: %w", extSessionBind, err)
	}
	if len(msg.SessionID) == 0 || len(msg.SessionID) > maxSessionID {
		return fmt.Errorf("%s: session id of %d bytes", extSessionBind, len(msg.SessionID))
	}
	hk, err := ssh.ParsePublicKey(msg.HostKey)
	if err != nil {
		return fmt.Errorf("%s: host key: %w", extSessionBind, err)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal(msg.Signature, &sig); err != nil {
		return fmt.Errorf("%s: signature: %w", extSessionBind, err)
	}
	if err := hk.Verify(msg.SessionID, &sig); err != nil {
		return ErrBadSessionBind
	}
	key := hk.Marshal()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.binds {
		sameID := bytes.Equal(b.SessionID, msg.SessionID)
		switch {
		case !b.Forwarded:
			return fmt.Errorf("%w: the connection is already bound for authentication", ErrSessionBindRefused)
		case sameID && bytes.Equal(b.HostKey, key):
			return nil
		case sameID:
			return fmt.Errorf("%w: session id bound to another host key", ErrSessionBindRefused)
		}
	}
	if len(a.binds) >= maxBinds {
		return fmt.Errorf("%w: more than %d bindings", ErrSessionBindRefused, maxBinds)
	}
	a.binds = append(a.binds, protocol.SSHBind{HostKey: key, SessionID: bytes.Clone(msg.SessionID), Forwarded: msg.Forwarding})
	return nil
}

// connection is what the core is told of this connection; nil when
// nothing was bound or tried.
func (a *sshAgent) connection() *protocol.SSHConnection {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.binds) == 0 && !a.bindTried {
		return nil
	}
	return &protocol.SSHConnection{Binds: append([]protocol.SSHBind(nil), a.binds...), BindFailed: a.bindTried && len(a.binds) == 0}
}
