package core

import (
	"bytes"
	"fmt"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Destination constraints (ssh-add -h), with the semantics of OpenSSH's
// agent (PROTOCOL.agent, "restrict-destination-v00@openssh.com"): a
// constrained key is listed and signs only on an ssh-agent connection
// whose session bindings (session-bind@openssh.com, verified by the front
// end and passed in the request) walk a path the constraints permit, hop
// by hop from this machine; for a signature, the data must be an ssh
// userauth request for the last bound session.

// Bounds of a connection's bindings, OpenSSH's own.
const (
	maxSSHBinds     = 16
	maxSSHSessionID = 128
	maxSSHUserLen   = 256
)

// sshDestinations checks the destinations of an enable request as
// OpenSSH's agent checks them at ssh-add: host keys that parse, a "from"
// that is the origin (no host, no keys) or a host with keys, and a "to"
// with a host and keys.
func sshDestinations(ds []protocol.SSHDestination) ([]store.SSHDestination, error) {
	if len(ds) > store.MaxSSHDestinations {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "%d destinations, at most %d", len(ds), store.MaxSSHDestinations)
	}
	var out []store.SSHDestination
	for i, d := range ds {
		switch {
		case (d.FromHost == "") != (len(d.FromKeys)+len(d.FromCAKeys) == 0):
			return nil, protocol.Errorf(protocol.StatusBadRequest, "destination %d: inconsistent \"from\"", i)
		case d.ToHost == "" || len(d.ToKeys)+len(d.ToCAKeys) == 0:
			return nil, protocol.Errorf(protocol.StatusBadRequest, "destination %d: incomplete \"to\"", i)
		case len(d.ToUser) > maxSSHUserLen:
			return nil, protocol.Errorf(protocol.StatusBadRequest, "destination %d: user pattern too long", i)
		}
		from, err := storeHop("", d.FromHost, d.FromKeys, d.FromCAKeys)
		if err != nil {
			return nil, protocol.Errorf(protocol.StatusBadRequest, "destination %d: from: %v", i, err)
		}
		to, err := storeHop(d.ToUser, d.ToHost, d.ToKeys, d.ToCAKeys)
		if err != nil {
			return nil, protocol.Errorf(protocol.StatusBadRequest, "destination %d: to: %v", i, err)
		}
		out = append(out, store.SSHDestination{From: from, To: to})
	}
	return out, nil
}

func storeHop(user, host string, keys, caKeys [][]byte) (store.SSHHop, error) {
	if len(keys)+len(caKeys) > store.MaxSSHHopKeys {
		return store.SSHHop{}, fmt.Errorf("%d host keys, at most %d", len(keys)+len(caKeys), store.MaxSSHHopKeys)
	}
	out := store.SSHHop{User: user, Host: host}
	for i, k := range append(append([][]byte(nil), keys...), caKeys...) {
		pk, err := ssh.ParsePublicKey(k)
		if err != nil {
			return store.SSHHop{}, fmt.Errorf("host key: %v", err)
		}
		out.Keys = append(out.Keys, store.SSHHostKey{Key: pk.Marshal(), CA: i >= len(keys)})
	}
	return out, nil
}

func protocolDestinations(ds []store.SSHDestination) []protocol.SSHDestination {
	var out []protocol.SSHDestination
	split := func(h store.SSHHop) (keys, ca [][]byte) {
		for _, k := range h.Keys {
			if k.CA {
				ca = append(ca, k.Key)
			} else {
				keys = append(keys, k.Key)
			}
		}
		return keys, ca
	}
	for _, d := range ds {
		p := protocol.SSHDestination{FromHost: d.From.Host, ToUser: d.To.User, ToHost: d.To.Host}
		p.FromKeys, p.FromCAKeys = split(d.From)
		p.ToKeys, p.ToCAKeys = split(d.To)
		out = append(out, p)
	}
	return out
}

// sshBind is one binding of the connection, its host key parsed.
type sshBind struct {
	key       ssh.PublicKey
	sessionID []byte
	forwarded bool
}

// sshConn is the connection a request came through.
type sshConn struct {
	binds      []sshBind
	bindFailed bool
}

func parseSSHConn(c *protocol.SSHConnection) (sshConn, error) {
	if c == nil {
		return sshConn{}, nil
	}
	if len(c.Binds) > maxSSHBinds {
		return sshConn{}, protocol.Errorf(protocol.StatusBadRequest, "%d session bindings, at most %d", len(c.Binds), maxSSHBinds)
	}
	out := sshConn{bindFailed: c.BindFailed}
	for i, b := range c.Binds {
		pk, err := ssh.ParsePublicKey(b.HostKey)
		if err != nil {
			return sshConn{}, protocol.Errorf(protocol.StatusBadRequest, "session binding %d: host key: %v", i, err)
		}
		if len(b.SessionID) == 0 || len(b.SessionID) > maxSSHSessionID {
			return sshConn{}, protocol.Errorf(protocol.StatusBadRequest, "session binding %d: session id of %d bytes", i, len(b.SessionID))
		}
		out.binds = append(out.binds, sshBind{key: pk, sessionID: b.SessionID, forwarded: b.Forwarded})
	}
	return out, nil
}

// sshPermitted is OpenSSH's identity_permitted: whether a key with
// destinations ds may be used on conn. user is the remote user of a
// signature (its userauth request); nil when listing.
func sshPermitted(ds []store.SSHDestination, conn sshConn, user *string) error {
	if len(ds) == 0 {
		return nil
	}
	n := len(conn.binds)
	switch {
	case n == 0 && conn.bindFailed:
		return fmt.Errorf("a session binding failed on this connection: %w", ErrSSHDestination)
	case n == 0:
		return nil // local use
	}
	var from ssh.PublicKey // nil: this machine
	for i, b := range conn.binds {
		var u *string
		if i == n-1 {
			u = user // the user is checked at the last hop only
			if b.forwarded && user != nil {
				return fmt.Errorf("a signature on a forwarding hop: %w", ErrSSHDestination)
			}
		} else if !b.forwarded {
			return fmt.Errorf("forwarding through an authentication binding: %w", ErrSSHDestination)
		}
		if !sshPermittedHop(ds, from, b.key, u) {
			return fmt.Errorf("hop %d is not a permitted destination: %w", i+1, ErrSSHDestination)
		}
		from = b.key
	}
	// Listed through a forwarding: only a key that may go on from the last
	// host is shown, not one that may merely authenticate to it.
	if last := conn.binds[n-1]; last.forwarded && user == nil && !sshPermittedHop(ds, last.key, nil, nil) {
		return fmt.Errorf("permitted at the host but not beyond it: %w", ErrSSHDestination)
	}
	return nil
}

// sshPermittedHop is OpenSSH's permitted_by_dest_constraints: some
// destination goes from from (nil: this machine) to to (nil: anywhere),
// for user (nil: any).
func sshPermittedHop(ds []store.SSHDestination, from, to ssh.PublicKey, user *string) bool {
	for _, d := range ds {
		if from == nil {
			if d.From.Host != "" || len(d.From.Keys) != 0 {
				continue
			}
		} else if !sshKeyInHop(from, d.From) {
			continue
		}
		if to != nil && !sshKeyInHop(to, d.To) {
			continue
		}
		if d.To.User != "" && user != nil && !protocol.MatchSSHPattern(*user, d.To.User) {
			continue
		}
		return true
	}
	return false
}

// sshKeyInHop is OpenSSH's match_key_hop: key is one of the hop's plain
// keys, or a host certificate for the hop's host signed by one of its CAs.
func sshKeyInHop(key ssh.PublicKey, h store.SSHHop) bool {
	cert, isCert := key.(*ssh.Certificate)
	for _, k := range h.Keys {
		if !isCert {
			if !k.CA && bytes.Equal(key.Marshal(), k.Key) {
				return true
			}
			continue
		}
		if !k.CA || !bytes.Equal(cert.SignatureKey.Marshal(), k.Key) {
			continue
		}
		host := h.Host
		if host == "" {
			host = "(ORIGIN)"
		}
		if cert.CertType != ssh.HostCert {
			continue
		}
		if (&ssh.CertChecker{}).CheckCert(host, cert) == nil {
			return true
		}
	}
	return false
}

// sshUserauth is what a constrained key signs: an SSH_MSG_USERAUTH_REQUEST
// (RFC 4252 §7) for the "publickey" method or OpenSSH's
// "publickey-hostbound-v00@openssh.com", prefixed by the session id.
type sshUserauth struct {
	sessionID []byte
	user      string
	hostKey   ssh.PublicKey // hostbound only
}

// parseSSHUserauth parses data as OpenSSH's agent does before it lets a
// constrained key sign it: the key in it must be one of keys (the key, or
// its certificate), under an algorithm of its type.
func parseSSHUserauth(data []byte, keys ...ssh.PublicKey) (*sshUserauth, bool) {
	var m struct {
		SessionID  []byte
		Type       byte
		User       string
		Service    string
		Method     string
		SigFollows bool
		Algorithm  string
		Key        []byte
		Rest       []byte `ssh:"rest"`
	}
	if err := ssh.Unmarshal(data, &m); err != nil || len(m.SessionID) == 0 ||
		m.Type != 50 || !m.SigFollows || m.Service != "ssh-connection" {
		return nil, false
	}
	var want ssh.PublicKey
	for _, k := range keys {
		if k != nil && bytes.Equal(k.Marshal(), m.Key) {
			want = k
		}
	}
	if want == nil || sshKeyTypeOf(m.Algorithm) != want.Type() {
		return nil, false
	}
	ua := &sshUserauth{sessionID: m.SessionID, user: m.User}
	switch m.Method {
	case "publickey-hostbound-v00@openssh.com":
		var hk struct {
			Key  []byte
			Rest []byte `ssh:"rest"`
		}
		if err := ssh.Unmarshal(m.Rest, &hk); err != nil || len(hk.Rest) != 0 {
			return nil, false
		}
		pk, err := ssh.ParsePublicKey(hk.Key)
		if err != nil {
			return nil, false
		}
		ua.hostKey = pk
	case "publickey":
		if len(m.Rest) != 0 {
			return nil, false
		}
	default:
		return nil, false
	}
	return ua, true
}

// sshKeyTypeOf is the key type of a signature algorithm name.
func sshKeyTypeOf(alg string) string {
	switch alg {
	case ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSASHA512:
		return ssh.KeyAlgoRSA
	case ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSASHA512v01:
		return ssh.CertAlgoRSAv01
	}
	return alg
}

// sshSignPermitted is OpenSSH's check of a signature by a constrained key
// (process_sign_request2): on a bound connection, over a userauth request
// for the last bound session, along a permitted path, and to the host key
// bound last.
func sshSignPermitted(rec *store.Record, conn sshConn, data []byte) error {
	ds := rec.SSH.Destinations
	if len(ds) == 0 {
		return nil
	}
	if len(conn.binds) == 0 {
		return fmt.Errorf("refusing use of destination-constrained key to sign on unbound connection: %w", ErrSSHDestination)
	}
	own, err := sshPublicKey(rec)
	if err != nil {
		return err
	}
	var cert ssh.PublicKey
	if len(rec.SSH.Certificate) > 0 {
		cert, _ = ssh.ParsePublicKey(rec.SSH.Certificate)
	}
	ua, ok := parseSSHUserauth(data, own, cert)
	if !ok {
		return fmt.Errorf("refusing use of destination-constrained key to sign an unidentified signature: %w", ErrSSHDestination)
	}
	if err := sshPermitted(ds, conn, &ua.user); err != nil {
		return fmt.Errorf("user %q: %w", ua.user, err)
	}
	last := conn.binds[len(conn.binds)-1]
	switch {
	case !bytes.Equal(ua.sessionID, last.sessionID):
		return fmt.Errorf("the signature is not for the session bound last: %w", ErrSSHDestination)
	case len(conn.binds) > 1 && ua.hostKey == nil:
		return fmt.Errorf("no host key in the signature on a forwarded connection: %w", ErrSSHDestination)
	case ua.hostKey != nil && !bytes.Equal(ua.hostKey.Marshal(), last.key.Marshal()):
		return fmt.Errorf("the host key in the signature is not the one bound last: %w", ErrSSHDestination)
	}
	return nil
}
