//go:build linux

package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"golang.org/x/crypto/ssh"
)

type agentCase struct {
	name string
	msg  []byte
}

// malformedAgentRequests are well-framed ssh-agent requests with bad
// contents, as in x/crypto's TestMalformedRequests, plus ours.
func malformedAgentRequests() []agentCase {
	str := func(b []byte) []byte { return ssh.Marshal(struct{ S []byte }{b}) }
	return []agentCase{
		{"unknown-opcode", []byte{200}},
		{"remove-truncated", []byte{18, 0, 0, 0, 9}},
		{"remove-junk-key", append([]byte{18}, str([]byte("junk"))...)},
		{"remove-unknown-key", append([]byte{18}, str(ssh.Marshal(struct{ A, B string }{"ssh-ed25519", "x"}))...)},
		{"sign-truncated", []byte{13, 0, 0, 1}},
		{"sign-junk-key", append(append([]byte{13}, str([]byte("junk"))...), append(str([]byte("d")), 0, 0, 0, 0)...)},
		{"add-truncated", []byte{17, 0, 0, 0, 20, 'e'}},
		{"add-unknown-type", append([]byte{17}, str([]byte("nope"))...)},
		{"add-constrained-bad", []byte{25, 0, 0, 0, 3, 'x', 'y', 'z', 99}},
		{"lock-truncated", []byte{22, 0, 0, 0, 10}},
		{"unlock-unlocked", append([]byte{23}, str([]byte("p"))...)},
		{"extension-truncated", []byte{27, 0, 0, 0, 50}},
		{"extension-unknown", append([]byte{27}, str([]byte("nope@example.com"))...)},
		{"session-bind-junk", append(append([]byte{27}, str([]byte("session-bind@openssh.com"))...), 1, 2, 3)},
	}
}

func testECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sshPub(t *testing.T, der []byte) ssh.PublicKey {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("x509.ParsePKIXPublicKey = %v", err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatalf("ssh.NewPublicKey = %v", err)
	}
	return pk
}
