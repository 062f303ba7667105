//go:build linux

package agent

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// startSSHDaemon is a daemon on a private swtpm that also serves the
// ssh-agent socket, which it returns.
func startSSHDaemon(t *testing.T, cfgBody string) (*testDaemon, string) {
	t.Helper()
	sw := swtpmtest.Start(t)
	sw.SetLockout(swtpmtest.ChipLockoutTries, time.Hour, time.Hour)
	opts, logs, audit := testOptions(t, sw, cfgBody)
	opts.SSHSocketPath = filepath.Join(filepath.Dir(opts.SocketPath), "ssh.sock")
	return runDaemon(t, sw, opts, logs, audit), opts.SSHSocketPath
}

func dialAgent(t *testing.T, path string) agent.ExtendedAgent {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("net.Dial(%s) = %v", path, err)
	}
	t.Cleanup(func() { nc.Close() })
	return agent.NewClient(nc)
}

// TestSSHAgent: the ssh-agent socket lists exactly the marked keys, signs
// with them as ssh verifies, refuses SHA-1, needs an unlock for a PIN
// key, locks and unlocks per uid, and removing keys only unmarks them.
func TestSSHAgent(t *testing.T) {
	td, sshSock := startSSHDaemon(t, "")
	c := dialHello(t, td.socket)
	pubs := map[string]ssh.PublicKey{}
	keygen := func(alias, alg string, pin []byte) opCase {
		return opCase{name: "keygen-" + alias, op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: alias, Algorithm: alg, PIN: pin},
			check: func(t *testing.T, resp any) {
				pubs[alias] = sshPub(t, resp.(*protocol.GenerateKeyResponse).Key.PublicKey)
			}}
	}
	mark := func(alias, comment string, want protocol.Status) opCase {
		return opCase{name: "enable-" + alias, op: protocol.OpSSHKey, want: want,
			req: &protocol.SSHKeyRequest{Alias: alias, Action: protocol.SSHEnable, Comment: comment}}
	}
	runOpCases(t, c, []opCase{
		keygen("ec", protocol.AlgECP256, nil),
		keygen("ec384", protocol.AlgECP384, nil),
		keygen("rsa", protocol.AlgRSA2048, nil),
		keygen("pin", protocol.AlgECP256, []byte("1234")),
		keygen("tls", protocol.AlgECP256, nil),
		{name: "keygen-mac", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "mac", Algorithm: protocol.AlgHMACSHA256}},
		mark("ec", "me@host", protocol.StatusOK),
		mark("ec384", "", protocol.StatusOK),
		mark("rsa", "", protocol.StatusOK),
		mark("pin", "", protocol.StatusOK),
		mark("mac", "", protocol.StatusIncompatiblePurpose),
		mark("absent", "", protocol.StatusKeyNotFound),
		{name: "enable-expired", op: protocol.OpSSHKey, want: protocol.StatusBadRequest,
			req: &protocol.SSHKeyRequest{Alias: "tls", Action: protocol.SSHEnable, NotAfter: 1}},
		{name: "enable-bad-certificate", op: protocol.OpSSHKey, want: protocol.StatusBadRequest,
			req: &protocol.SSHKeyRequest{Alias: "tls", Action: protocol.SSHEnable, Certificate: []byte("junk")}},
		{name: "sign-unmarked", op: protocol.OpSSHSign, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.SSHSignRequest{Alias: "tls", Algorithm: protocol.SSHAlgECDSAP256, Data: []byte("d")}},
	})
	ag := dialAgent(t, sshSock)
	data := []byte("session data")

	t.Run("list-marked-only", func(t *testing.T) {
		keys, err := ag.List()
		if err != nil {
			t.Fatalf("List() = %v", err)
		}
		got := map[string]string{}
		for _, k := range keys {
			got[string(k.Blob)] = k.Comment
		}
		want := map[string]string{"ec": "me@host", "ec384": "ec384", "rsa": "rsa", "pin": "pin"}
		if len(got) != len(want) {
			t.Errorf("List() = %d keys, want %d", len(got), len(want))
		}
		for alias, comment := range want {
			if c, ok := got[string(pubs[alias].Marshal())]; !ok || c != comment {
				t.Errorf("List()[%s] = %q, %v, want %q, true", alias, c, ok, comment)
			}
		}
	})
	signCases := []struct {
		name  string
		alias string
		flags agent.SignatureFlags
		want  string // signature format; "" = refused
	}{
		{"ecdsa-p256", "ec", 0, ssh.KeyAlgoECDSA256},
		{"ecdsa-p384", "ec384", 0, ssh.KeyAlgoECDSA384},
		{"rsa-sha2-256", "rsa", agent.SignatureFlagRsaSha256, ssh.KeyAlgoRSASHA256},
		{"rsa-sha2-512", "rsa", agent.SignatureFlagRsaSha512, ssh.KeyAlgoRSASHA512},
		{"ssh-rsa-sha1-refused", "rsa", 0, ""},
		{"pin-key-not-unlocked", "pin", 0, ""},
		{"unmarked-key", "tls", 0, ""},
	}
	for _, tc := range signCases {
		t.Run("sign-"+tc.name, func(t *testing.T) {
			checkAgentSign(t, ag, pubs[tc.alias], data, tc.flags, tc.want)
		})
	}
	runOpCases(t, c, []opCase{
		{name: "unlock-wrong-pin", op: protocol.OpSSHKey, want: protocol.StatusWrongPIN,
			req: &protocol.SSHKeyRequest{Alias: "pin", Action: protocol.SSHUnlock, PIN: []byte("0000")}},
		{name: "unlock-no-pin-key", op: protocol.OpSSHKey, want: protocol.StatusBadRequest,
			req: &protocol.SSHKeyRequest{Alias: "ec", Action: protocol.SSHUnlock}},
		{name: "unlock-pin", op: protocol.OpSSHKey, want: protocol.StatusOK,
			req: &protocol.SSHKeyRequest{Alias: "pin", Action: protocol.SSHUnlock, PIN: []byte("1234"), Seconds: 60},
			check: func(t *testing.T, resp any) {
				if k := resp.(*protocol.SSHKeyResponse).Key; k.SSH == nil || k.SSH.UnlockedUntil <= time.Now().Unix() {
					t.Errorf("SSHKey(unlock).Key.SSH = %+v, want unlocked_until in the future", k.SSH)
				}
			}},
	})
	t.Run("idle-connection-holds-no-budget", func(t *testing.T) {
		checkAgentSign(t, ag, pubs["ec"], data, 0, ssh.KeyAlgoECDSA256)
		// The native connection returns its last frame's budget just after
		// its answer; an idle ssh-agent connection must hold none at all.
		var total int64
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if total, _ = td.core().HeldBytes(uint32(os.Getuid())); total == 0 {
				break
			}
		}
		if total != 0 {
			t.Errorf("HeldBytes with the connections idle = %d, want 0", total)
		}
	})
	t.Run("sign-pin-key-unlocked", func(t *testing.T) {
		checkAgentSign(t, ag, pubs["pin"], data, 0, ssh.KeyAlgoECDSA256)
	})
	t.Run("lock", func(t *testing.T) {
		if err := ag.Lock([]byte("pass")); err != nil {
			t.Fatalf("Lock() = %v", err)
		}
		if err := ag.Lock([]byte("again")); err == nil {
			t.Error("Lock() of a locked agent = nil, want an error")
		}
		other := dialAgent(t, sshSock) // the lock is the uid's, not the connection's
		if keys, err := other.List(); err == nil && len(keys) > 0 {
			t.Errorf("List() on a locked agent = %d keys, want an error or none", len(keys))
		}
		checkAgentSign(t, other, pubs["ec"], data, 0, "")
		if _, err := other.Extension("session-bind@openssh.com", nil); err == nil {
			t.Error("Extension(session-bind) on a locked agent = nil, want an error")
		}
		if err := other.RemoveAll(); err == nil {
			t.Error("RemoveAll() on a locked agent = nil, want an error")
		}
		if err := other.Unlock([]byte("wrong")); err == nil {
			t.Error("Unlock(wrong passphrase) = nil, want an error")
		}
		if err := other.Unlock([]byte("pass")); err != nil {
			t.Fatalf("Unlock() = %v", err)
		}
		checkAgentSign(t, ag, pubs["ec"], data, 0, ssh.KeyAlgoECDSA256)
		checkAgentSign(t, ag, pubs["pin"], data, 0, "") // the lock dropped the cached PIN
	})
	t.Run("extensions", func(t *testing.T) {
		if _, err := ag.Extension("query", nil); err == nil {
			t.Error("Extension(query) = nil, want unsupported")
		}
		if _, err := ag.Extension("session-bind@openssh.com", []byte("junk")); err == nil {
			t.Error("Extension(session-bind, junk) = nil, want an error")
		}
	})
	t.Run("add-refused", func(t *testing.T) {
		for _, k := range []agent.AddedKey{
			{PrivateKey: testECKey(t), ConfirmBeforeUse: true},
			{PrivateKey: testECKey(t), ConstraintExtensions: []agent.ConstraintExtension{{ExtensionName: "restrict-destination-v00@openssh.com"}}},
		} {
			if err := ag.Add(k); err == nil {
				t.Errorf("Add(confirm %v, extensions %v) = nil, want an error", k.ConfirmBeforeUse, k.ConstraintExtensions)
			}
		}
	})
	t.Run("remove-unmarks-only", func(t *testing.T) {
		if err := ag.Remove(pubs["ec384"]); err != nil {
			t.Fatalf("Remove(ec384) = %v", err)
		}
		if err := ag.RemoveAll(); err != nil {
			t.Fatalf("RemoveAll() = %v", err)
		}
		if keys, err := ag.List(); err != nil || len(keys) != 0 {
			t.Errorf("List() after RemoveAll = %d keys, %v, want 0, nil", len(keys), err)
		}
		var page protocol.ListKeysResponse
		if st, msg := c.call(protocol.OpListKeys, &protocol.ListKeysRequest{}, &page); st != protocol.StatusOK || len(page.Keys) != 6 {
			t.Errorf("ListKeys after RemoveAll = %v (%s), %d keys, want OK, 6", st, msg, len(page.Keys))
		}
	})
}

func checkAgentSign(t *testing.T, ag agent.ExtendedAgent, pub ssh.PublicKey, data []byte, flags agent.SignatureFlags, want string) {
	t.Helper()
	sig, err := ag.SignWithFlags(pub, data, flags)
	if want == "" {
		if err == nil {
			t.Errorf("SignWithFlags(%s, %d) = %s, want an error", pub.Type(), flags, sig.Format)
		}
		return
	}
	if err != nil {
		t.Fatalf("SignWithFlags(%s, %d) = %v, want a %s signature", pub.Type(), flags, err, want)
	}
	if sig.Format != want {
		t.Errorf("SignWithFlags(%s, %d).Format = %s, want %s", pub.Type(), flags, sig.Format, want)
	}
	if err := pub.Verify(data, sig); err != nil {
		t.Errorf("Verify(SignWithFlags(%s)) = %v, want nil", pub.Type(), err)
	}
}

// TestSSHAgentMalformed: bad frames get SSH_AGENT_FAILURE and the
// connection goes on serving; a zero or oversized length closes it.
func TestSSHAgentMalformed(t *testing.T) {
	_, sshSock := startSSHDaemon(t, "")
	nc, err := net.Dial("unix", sshSock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, tc := range malformedAgentRequests() {
		t.Run(tc.name, func(t *testing.T) {
			if got := agentRoundTrip(t, nc, tc.msg); !bytes.Equal(got, []byte{5}) && !bytes.Equal(got, []byte{28}) {
				t.Errorf("reply to %x = %x, want failure (05) or extension failure (1c)", tc.msg, got)
			}
			if got := agentRoundTrip(t, nc, []byte{11}); len(got) < 5 || got[0] != 12 {
				t.Errorf("reply to request-identities after %s = %x, want an identities answer (0c...)", tc.name, got)
			}
		})
	}
	for _, n := range []uint32{0, 1 << 30} {
		c2, err := net.Dial("unix", sshSock)
		if err != nil {
			t.Fatal(err)
		}
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], n)
		c2.Write(hdr[:])
		c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c2.Read(make([]byte, 1)); err == nil {
			t.Errorf("frame of length %d: the connection answered, want it closed", n)
		}
		c2.Close()
	}
}

func agentRoundTrip(t *testing.T, nc net.Conn, msg []byte) []byte {
	t.Helper()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	if _, err := nc.Write(append(frame, msg...)); err != nil {
		t.Fatalf("write: %v", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(nc, hdr[:]); err != nil {
		t.Fatalf("read reply to %x: %v", msg, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(nc, body); err != nil {
		t.Fatalf("read reply body: %v", err)
	}
	return body
}

// TestSSHAgentSHA1Allowed: with ssh_allow_sha1 the agent signs ssh-rsa
// (RSA PKCS #1 v1.5 with SHA-1, in the TPM), and ssh verifies it.
func TestSSHAgentSHA1Allowed(t *testing.T) {
	td, sshSock := startSSHDaemon(t, "ssh_allow_sha1 = true\n")
	c := dialHello(t, td.socket)
	var pub ssh.PublicKey
	runOpCases(t, c, []opCase{
		{name: "keygen", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req:   &protocol.GenerateKeyRequest{Alias: "rsa", Algorithm: protocol.AlgRSA2048},
			check: func(t *testing.T, resp any) { pub = sshPub(t, resp.(*protocol.GenerateKeyResponse).Key.PublicKey) }},
		{name: "enable", op: protocol.OpSSHKey, want: protocol.StatusOK,
			req: &protocol.SSHKeyRequest{Alias: "rsa", Action: protocol.SSHEnable}},
	})
	checkAgentSign(t, dialAgent(t, sshSock), pub, []byte("legacy"), 0, ssh.KeyAlgoRSA)
}

// TestSSHAgentFramesAreCharged: malformed requests, which x/crypto answers
// without a core call, are still charged to the caller's rate limit: past
// the burst, a flood of them goes at the configured rate, no faster.
func TestSSHAgentFramesAreCharged(t *testing.T) {
	_, sshSock := startSSHDaemon(t, "[limits]\nrequests_per_second = 200\nburst = 10\n")
	nc, err := net.Dial("unix", sshSock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const n = 110
	start := time.Now()
	for range n {
		if got := agentRoundTrip(t, nc, []byte{200}); !bytes.Equal(got, []byte{5}) {
			t.Fatalf("reply to an unknown opcode = %x, want 05", got)
		}
	}
	// 100 frames past the burst at 200/s take at least 0.5 s.
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Errorf("%d malformed frames answered in %v, want at least 0.4s at 200 frames/s", n, d)
	}
}
