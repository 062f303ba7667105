package core

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

func TestSSHMatchPattern(t *testing.T) {
	tests := []struct {
		s, pattern string
		want       bool
	}{
		{"alice", "alice", true},
		{"alice", "ali", false},
		{"alice", "ali*", true},
		{"alice", "*", true},
		{"", "*", true},
		{"alice", "a?ice", true},
		{"alice", "a?ce", false},
		{"alice", "*c*", true},
		{"alice", "*x*", false},
		{"al", "al?", false},
		{"a*b", "a[*]b", false}, // no character classes, as OpenSSH
	}
	for _, tt := range tests {
		if got := protocol.MatchSSHPattern(tt.s, tt.pattern); got != tt.want {
			t.Errorf("protocol.MatchSSHPattern(%q, %q) = %v, want %v", tt.s, tt.pattern, got, tt.want)
		}
	}
}

func TestParseSSHUserauth(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := ssh.NewPublicKey(&k.PublicKey)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ssh.NewPublicKey(&k2.PublicKey)
	str := func(s string) []byte { return ssh.Marshal(struct{ S string }{s}) }
	msg := func(sid string, typ byte, service, method string, follows byte, alg string, key ssh.PublicKey, tail ...[]byte) []byte {
		b := append(str(sid), typ)
		b = append(b, str("alice")...)
		b = append(b, str(service)...)
		b = append(b, str(method)...)
		b = append(b, follows)
		b = append(b, str(alg)...)
		b = append(b, str(string(key.Marshal()))...)
		for _, x := range tail {
			b = append(b, x...)
		}
		return b
	}
	hb := "publickey-hostbound-v00@openssh.com"
	hk := str(string(other.Marshal()))
	tests := []struct {
		name string
		data []byte
		ok   bool
		host bool
	}{
		{"publickey", msg("sid", 50, "ssh-connection", "publickey", 1, pub.Type(), pub), true, false},
		{"hostbound", msg("sid", 50, "ssh-connection", hb, 1, pub.Type(), pub, hk), true, true},
		{"hostbound-without-host-key", msg("sid", 50, "ssh-connection", hb, 1, pub.Type(), pub), false, false},
		{"trailing-bytes", msg("sid", 50, "ssh-connection", "publickey", 1, pub.Type(), pub, []byte{0}), false, false},
		{"empty-session-id", msg("", 50, "ssh-connection", "publickey", 1, pub.Type(), pub), false, false},
		{"not-userauth", msg("sid", 51, "ssh-connection", "publickey", 1, pub.Type(), pub), false, false},
		{"other-service", msg("sid", 50, "ssh-userauth", "publickey", 1, pub.Type(), pub), false, false},
		{"other-method", msg("sid", 50, "ssh-connection", "password", 1, pub.Type(), pub), false, false},
		{"no-signature", msg("sid", 50, "ssh-connection", "publickey", 0, pub.Type(), pub), false, false},
		{"other-key", msg("sid", 50, "ssh-connection", "publickey", 1, pub.Type(), other), true, false},
		{"algorithm-of-another-type", msg("sid", 50, "ssh-connection", "publickey", 1, "rsa-sha2-256", pub), false, false},
		{"sshsig", append([]byte("SSHSIG"), str("file")...), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys := []ssh.PublicKey{pub}
			if tt.name == "other-key" {
				keys = []ssh.PublicKey{other}
			}
			ua, ok := parseSSHUserauth(tt.data, keys...)
			if ok != tt.ok {
				t.Fatalf("parseSSHUserauth(%s) ok = %v, want %v", tt.name, ok, tt.ok)
			}
			if ok && (ua.user != "alice" || string(ua.sessionID) != "sid" || (ua.hostKey != nil) != tt.host) {
				t.Errorf("parseSSHUserauth(%s) = user %q sid %q host key %v, want alice, sid, %v", tt.name, ua.user, ua.sessionID, ua.hostKey != nil, tt.host)
			}
		})
	}
	if _, ok := parseSSHUserauth(msg("sid", 50, "ssh-connection", "publickey", 1, other.Type(), other), pub); ok {
		t.Error("parseSSHUserauth(another key's request) ok = true, want false")
	}
}

// BenchmarkSSHDestinationCheck is the core's work for one signature by a
// destination-constrained key on a connection bound through two hosts:
// parsing the bindings and the userauth request, and walking the path.
func BenchmarkSSHDestinationCheck(b *testing.B) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := ssh.NewPublicKey(&k.PublicKey)
	hosts := make([]ssh.PublicKey, 2)
	for i := range hosts {
		hk, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		hosts[i], _ = ssh.NewPublicKey(&hk.PublicKey)
	}
	ds := []store.SSHDestination{
		{To: store.SSHHop{Host: "a", Keys: []store.SSHHostKey{{Key: hosts[0].Marshal()}}}},
		{From: store.SSHHop{Host: "a", Keys: []store.SSHHostKey{{Key: hosts[0].Marshal()}}},
			To: store.SSHHop{User: "git", Host: "b", Keys: []store.SSHHostKey{{Key: hosts[1].Marshal()}}}},
	}
	wire := &protocol.SSHConnection{Binds: []protocol.SSHBind{
		{HostKey: hosts[0].Marshal(), SessionID: []byte("s1"), Forwarded: true},
		{HostKey: hosts[1].Marshal(), SessionID: []byte("s2")}}}
	str := func(s []byte) []byte { return ssh.Marshal(struct{ S []byte }{s}) }
	data := append(str([]byte("s2")), 50)
	for _, f := range [][]byte{[]byte("git"), []byte("ssh-connection"), []byte("publickey-hostbound-v00@openssh.com")} {
		data = append(data, str(f)...)
	}
	data = append(data, 1)
	data = append(data, str([]byte(pub.Type()))...)
	data = append(data, str(pub.Marshal())...)
	data = append(data, str(hosts[1].Marshal())...)
	b.ReportAllocs()
	for b.Loop() {
		conn, err := parseSSHConn(wire)
		if err != nil {
			b.Fatal(err)
		}
		ua, ok := parseSSHUserauth(data, pub)
		if !ok {
			b.Fatal("userauth")
		}
		if err := sshPermitted(ds, conn, &ua.user); err != nil {
			b.Fatal(err)
		}
	}
}
