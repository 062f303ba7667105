//go:build linux

package agent

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// A host of the destination tests: its host key signs session ids.
type testHost struct {
	name   string
	signer ssh.Signer
}

func newTestHost(t *testing.T, name string) testHost {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return testHost{name: name, signer: s}
}

func wstr(b []byte) []byte { return ssh.Marshal(struct{ S []byte }{b}) }

// hop is a restrict-destination-v00 hop: user, host, reserved, keys.
func hop(user string, h *testHost) []byte {
	b := append(wstr([]byte(user)), wstr([]byte(h.name))...)
	b = append(b, wstr(nil)...)
	b = append(b, wstr(h.signer.PublicKey().Marshal())...)
	return append(b, 0)
}

// destination is one constraint: from (nil: the origin) to, as user.
func destination(from *testHost, user string, to *testHost) []byte {
	var fromHop []byte
	if from == nil {
		fromHop = append(append(wstr(nil), wstr(nil)...), wstr(nil)...)
	} else {
		fromHop = hop("", from)
	}
	c := append(wstr(fromHop), wstr(hop(user, to))...)
	return wstr(append(c, wstr(nil)...))
}

func restrict(dests ...[]byte) agent.ConstraintExtension {
	return agent.ConstraintExtension{ExtensionName: "restrict-destination-v00@openssh.com", ExtensionDetails: bytes.Join(dests, nil)}
}

// bind sends session-bind@openssh.com for sid, signed by h.
func bind(ag agent.ExtendedAgent, h testHost, sid []byte, fwd bool) error {
	sig, err := h.signer.Sign(rand.Reader, sid)
	if err != nil {
		return err
	}
	msg := ssh.Marshal(struct {
		HostKey, SessionID, Signature []byte
		Forwarding                    bool
	}{h.signer.PublicKey().Marshal(), sid, ssh.Marshal(sig), fwd})
	_, err = ag.Extension("session-bind@openssh.com", msg)
	return err
}

// userauth is the blob ssh signs for publickey-hostbound-v00 (or plain
// publickey when host is nil).
func userauth(sid []byte, user string, key ssh.PublicKey, host *testHost) []byte {
	method := "publickey"
	if host != nil {
		method = "publickey-hostbound-v00@openssh.com"
	}
	b := append(wstr(sid), 50)
	b = append(b, wstr([]byte(user))...)
	b = append(b, wstr([]byte("ssh-connection"))...)
	b = append(b, wstr([]byte(method))...)
	b = append(b, 1)
	b = append(b, wstr([]byte(key.Type()))...)
	b = append(b, wstr(key.Marshal())...)
	if host != nil {
		b = append(b, wstr(host.signer.PublicKey().Marshal())...)
	}
	return b
}

func listed(t *testing.T, ag agent.ExtendedAgent, pub ssh.PublicKey) bool {
	t.Helper()
	keys, err := ag.List()
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	for _, k := range keys {
		if bytes.Equal(k.Blob, pub.Marshal()) {
			return true
		}
	}
	return false
}

// TestSSHAgentDestinations: keys added with crafted
// restrict-destination-v00@openssh.com constraints are listed and sign as
// OpenSSH's agent allows them, on connections bound with
// session-bind@openssh.com.
func TestSSHAgentDestinations(t *testing.T) {
	td, sshSock := startSSHDaemon(t, "")
	a, b, other := newTestHost(t, "hosta"), newTestHost(t, "hostb"), newTestHost(t, "other")
	add := func(name string, ext ...agent.ConstraintExtension) ssh.PublicKey {
		k := testECKey(t)
		pub, _ := ssh.NewPublicKey(&k.PublicKey)
		if err := dialAgent(t, sshSock).Add(agent.AddedKey{PrivateKey: k, Comment: name, ConstraintExtensions: ext}); err != nil {
			t.Fatalf("Add(%s) = %v", name, err)
		}
		return pub
	}
	free := add("free")
	toA := add("to-a", restrict(destination(nil, "alice*", &a)))
	viaA := add("via-a", restrict(destination(nil, "", &a), destination(&a, "", &b)))
	keys := map[string]ssh.PublicKey{"free": free, "to-a": toA, "via-a": viaA}

	// Each case is a new connection: binds, then what it lists and what
	// each key's signature of a userauth request does.
	type bindStep struct {
		host testHost
		sid  string
		fwd  bool
	}
	cases := []struct {
		name    string
		binds   []bindStep
		list    map[string]bool
		user    string
		host    *testHost // the host key in the userauth request
		sid     string    // "": the last bind's
		data    []byte    // instead of a userauth request
		signs   map[string]bool
		bindErr bool // the last bind is refused
	}{
		{name: "unbound", list: map[string]bool{"free": true, "to-a": true, "via-a": true},
			user: "alice", signs: map[string]bool{"free": true, "to-a": false, "via-a": false}},
		{name: "to-a-as-alice", binds: []bindStep{{a, "s1", false}}, list: map[string]bool{"free": true, "to-a": true, "via-a": true},
			user: "alice", host: &a, signs: map[string]bool{"free": true, "to-a": true, "via-a": true}},
		{name: "to-a-plain-publickey", binds: []bindStep{{a, "s1", false}},
			user: "alice", signs: map[string]bool{"to-a": true}},
		{name: "to-a-as-bob", binds: []bindStep{{a, "s1", false}},
			user: "bob", host: &a, signs: map[string]bool{"free": true, "to-a": false, "via-a": true}},
		{name: "to-other-host", binds: []bindStep{{other, "s1", false}}, list: map[string]bool{"free": true, "to-a": false, "via-a": false},
			user: "alice", host: &other, signs: map[string]bool{"free": true, "to-a": false, "via-a": false}},
		{name: "not-a-userauth-request", binds: []bindStep{{a, "s1", false}},
			data: []byte("SSHSIG file signature"), signs: map[string]bool{"free": true, "to-a": false}},
		{name: "another-session-id", binds: []bindStep{{a, "s1", false}},
			user: "alice", host: &a, sid: "s0", signs: map[string]bool{"to-a": false}},
		{name: "host-key-in-request-not-bound", binds: []bindStep{{a, "s1", false}},
			user: "alice", host: &b, signs: map[string]bool{"to-a": false}},
		{name: "forwarded-through-a-to-b", binds: []bindStep{{a, "s1", true}, {b, "s2", false}},
			list: map[string]bool{"free": true, "to-a": false, "via-a": true},
			user: "alice", host: &b, signs: map[string]bool{"free": true, "to-a": false, "via-a": true}},
		{name: "forwarded-no-host-key", binds: []bindStep{{a, "s1", true}, {b, "s2", false}},
			user: "alice", signs: map[string]bool{"via-a": false}},
		{name: "listed-at-forwarding-hop", binds: []bindStep{{a, "s1", true}},
			list: map[string]bool{"free": true, "to-a": false, "via-a": true},
			user: "alice", host: &a, signs: map[string]bool{"to-a": false, "via-a": false}},
		{name: "forwarded-through-other", binds: []bindStep{{other, "s1", true}, {b, "s2", false}},
			list: map[string]bool{"free": true, "to-a": false, "via-a": false},
			user: "alice", host: &b, signs: map[string]bool{"via-a": false}},
		{name: "bind-after-authentication-bind", binds: []bindStep{{a, "s1", false}, {b, "s2", false}}, bindErr: true,
			user: "alice", host: &a, signs: map[string]bool{"to-a": true}},
		{name: "same-bind-twice", binds: []bindStep{{a, "s1", true}, {a, "s1", true}, {b, "s2", false}},
			user: "alice", host: &b, signs: map[string]bool{"via-a": true}},
		{name: "session-id-of-another-key", binds: []bindStep{{a, "s1", true}, {b, "s1", false}}, bindErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ag := dialAgent(t, sshSock)
			for i, s := range tc.binds {
				err := bind(ag, s.host, []byte(s.sid), s.fwd)
				if wantErr := tc.bindErr && i == len(tc.binds)-1; (err != nil) != wantErr {
					t.Fatalf("bind %d (%s, fwd %v) = %v, want error %v", i, s.host.name, s.fwd, err, wantErr)
				}
			}
			for name, want := range tc.list {
				if got := listed(t, ag, keys[name]); got != want {
					t.Errorf("List() has %s = %v, want %v", name, got, want)
				}
			}
			sid := tc.sid
			if sid == "" && len(tc.binds) > 0 {
				sid = tc.binds[len(tc.binds)-1].sid
				if tc.bindErr {
					sid = tc.binds[len(tc.binds)-2].sid
				}
			}
			for name, want := range tc.signs {
				data := tc.data
				if data == nil {
					data = userauth([]byte(sid), tc.user, keys[name], tc.host)
				}
				sig, err := ag.Sign(keys[name], data)
				if (err == nil) != want {
					t.Errorf("Sign(%s) = %v, want ok %v", name, err, want)
				} else if err == nil {
					if err := keys[name].Verify(data, sig); err != nil {
						t.Errorf("Verify(Sign(%s)) = %v", name, err)
					}
				}
			}
		})
	}

	t.Run("host-certificate-ca", func(t *testing.T) {
		ca := newTestHost(t, "ca")
		certHost := func(principal string) testHost {
			h := newTestHost(t, principal)
			cert := &ssh.Certificate{Key: h.signer.PublicKey(), CertType: ssh.HostCert, KeyId: principal,
				ValidPrincipals: []string{principal}, ValidBefore: ssh.CertTimeInfinity}
			if err := cert.SignCert(rand.Reader, ca.signer); err != nil {
				t.Fatal(err)
			}
			cs, err := ssh.NewCertSigner(cert, h.signer)
			if err != nil {
				t.Fatal(err)
			}
			return testHost{name: principal, signer: cs}
		}
		// to host "certhost" by its CA: keyspec is-ca = 1.
		to := append(append(wstr(nil), wstr([]byte("certhost"))...), wstr(nil)...)
		to = append(append(to, wstr(ca.signer.PublicKey().Marshal())...), 1)
		origin := append(append(wstr(nil), wstr(nil)...), wstr(nil)...)
		byCA := add("by-ca", restrict(wstr(append(append(wstr(origin), wstr(to)...), wstr(nil)...))))
		for _, tc := range []struct {
			host testHost
			want bool
		}{{certHost("certhost"), true}, {certHost("otherhost"), false}, {newTestHost(t, "certhost"), false}} {
			ag := dialAgent(t, sshSock)
			if err := bind(ag, tc.host, []byte("sid"), false); err != nil {
				t.Fatalf("bind(%s) = %v", tc.host.name, err)
			}
			h := tc.host
			_, err := ag.Sign(byCA, userauth([]byte("sid"), "root", byCA, &h))
			if (err == nil) != tc.want {
				t.Errorf("Sign(by-ca) bound to %s (%s) = %v, want ok %v", tc.host.name, tc.host.signer.PublicKey().Type(), err, tc.want)
			}
		}
	})
	t.Run("failed-bind-hides-constrained-keys", func(t *testing.T) {
		ag := dialAgent(t, sshSock)
		sig, _ := other.signer.Sign(rand.Reader, []byte("x"))
		msg := ssh.Marshal(struct {
			HostKey, SessionID, Signature []byte
			Forwarding                    bool
		}{a.signer.PublicKey().Marshal(), []byte("x"), ssh.Marshal(sig), false})
		if _, err := ag.Extension("session-bind@openssh.com", msg); err == nil {
			t.Fatal("session-bind with another host's signature = nil, want an error")
		}
		if listed(t, ag, toA) || !listed(t, ag, free) {
			t.Errorf("List() after a failed bind: to-a %v, free %v, want false, true", listed(t, ag, toA), listed(t, ag, free))
		}
	})
	t.Run("marking-shows-destinations", func(t *testing.T) {
		c := dialHello(t, td.socket)
		var page protocol.SSHListResponse
		if st, msg := c.call(protocol.OpSSHList, &protocol.SSHListRequest{}, &page); st != protocol.StatusOK {
			t.Fatalf("SSHList = %v (%s), want OK", st, msg)
		}
		n := map[string]int{}
		for _, k := range page.Keys {
			n[k.SSH.Comment] = len(k.SSH.Destinations)
		}
		if n["free"] != 0 || n["to-a"] != 1 || n["via-a"] != 2 {
			t.Errorf("SSHList destinations = %v, want free 0, to-a 1, via-a 2", n)
		}
	})
	t.Run("add-refused", func(t *testing.T) {
		ag := dialAgent(t, sshSock)
		bad := map[string][]agent.ConstraintExtension{
			"empty":             {restrict()},
			"twice":             {restrict(destination(nil, "", &a)), restrict(destination(nil, "", &a))},
			"unknown-extension": {{ExtensionName: "sk-provider@openssh.com", ExtensionDetails: wstr([]byte("x"))}},
			"truncated":         {restrict(destination(nil, "", &a)[:20])},
			"to-without-keys":   {restrict(wstr(append(append(wstr(append(append(wstr(nil), wstr(nil)...), wstr(nil)...)), wstr(append(append(wstr(nil), wstr([]byte("h"))...), wstr(nil)...))...), wstr(nil)...)))},
			"from-user":         {restrict(wstr(append(append(wstr(hop("root", &a)), wstr(hop("", &b))...), wstr(nil)...)))},
			"bad-host-key":      {restrict(wstr(append(append(wstr(append(append(wstr(nil), wstr(nil)...), wstr(nil)...)), wstr(append(append(append(append(wstr(nil), wstr([]byte("h"))...), wstr(nil)...), wstr([]byte("junk"))...), 0))...), wstr(nil)...)))},
		}
		for name, ext := range bad {
			if err := ag.Add(agent.AddedKey{PrivateKey: testECKey(t), ConstraintExtensions: ext}); err == nil {
				t.Errorf("Add(%s) = nil, want an error", name)
			}
		}
	})
}
