package sshagent

import (
	"context"
	"crypto/ed25519"
	"testing"

	"golang.org/x/crypto/ssh"
)

func wstr(b []byte) []byte { return ssh.Marshal(struct{ S []byte }{b}) }

// destSeed is one restrict-destination-v00 constraint from the origin to
// host "h" (the key of seed byte 1), as user.
func destSeed(user string) []byte {
	pub, _ := ssh.NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)).Public())
	origin := append(append(wstr(nil), wstr(nil)...), wstr(nil)...)
	to := append(append(wstr([]byte(user)), wstr([]byte("h"))...), wstr(nil)...)
	to = append(append(to, wstr(pub.Marshal())...), 0)
	return wstr(append(append(wstr(origin), wstr(to)...), wstr(nil)...))
}

// FuzzParseDestinations: whatever the constraint's bytes, the parser
// returns destinations whose host keys parse, within the bounds, or an
// error; it never panics.
func FuzzParseDestinations(f *testing.F) {
	f.Add(destSeed(""))
	f.Add(destSeed("git"))
	f.Add(append(destSeed("a"), destSeed("b")...))
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := parseDestinations(b)
		if err != nil {
			return
		}
		if len(ds) == 0 || len(ds) > maxConstraint {
			t.Fatalf("parseDestinations = %d destinations, want 1..%d", len(ds), maxConstraint)
		}
		for _, d := range ds {
			for _, k := range append(append(append(d.FromKeys, d.FromCAKeys...), d.ToKeys...), d.ToCAKeys...) {
				if _, err := ssh.ParsePublicKey(k); err != nil {
					t.Fatalf("parseDestinations kept a host key that does not parse: %v", err)
				}
			}
		}
	})
}

// FuzzSessionBind: any session-bind@openssh.com body is verified or
// refused; at most 16 bindings are kept.
func FuzzSessionBind(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	signer, _ := ssh.NewSignerFromKey(priv)
	sig, _ := signer.Sign(nil, []byte("sid"))
	f.Add(ssh.Marshal(struct {
		HostKey, SessionID, Signature []byte
		Forwarding                    bool
	}{signer.PublicKey().Marshal(), []byte("sid"), ssh.Marshal(sig), true}))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a := &sshAgent{ctx: context.Background(), closeAsked: func() {}}
		for range 3 {
			a.sessionBind(b)
		}
		if len(a.binds) > maxBinds || !a.bindTried {
			t.Fatalf("after sessionBind: %d bindings, tried %v; want at most %d, true", len(a.binds), a.bindTried, maxBinds)
		}
	})
}
