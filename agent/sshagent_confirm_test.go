//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestSSHAgentConfirm: a key added with ssh-add -c (ConfirmBeforeUse)
// signs only when the configured ssh_askpass program, run with
// SSH_ASKPASS_PROMPT=confirm, exits 0; without ssh_askpass the add is
// refused before anything is imported.
func TestSSHAgentConfirm(t *testing.T) {
	dir := t.TempDir()
	askpass := filepath.Join(dir, "askpass")
	script := "#!/bin/sh\n" +
		"[ \"$SSH_ASKPASS_PROMPT\" = confirm ] || exit 3\n" +
		"printf '%s\\n%s\\n' \"$1\" \"$TPMKEYD_UID\" > " + filepath.Join(dir, "asked") + "\n" +
		"test -e " + filepath.Join(dir, "allow") + "\n"
	if err := os.WriteFile(askpass, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	td, sshSock := startSSHDaemon(t, "ssh_askpass = \""+askpass+"\"\n")
	ag := dialAgent(t, sshSock)
	k := testECKey(t)
	pub, _ := ssh.NewPublicKey(&k.PublicKey)
	if err := ag.Add(agent.AddedKey{PrivateKey: k, Comment: "confirm-me", ConfirmBeforeUse: true}); err != nil {
		t.Fatalf("Add(confirm) = %v", err)
	}
	data := []byte("to sign")
	t.Run("yes", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, "allow"), nil, 0o644)
		checkAgentSign(t, ag, pub, data, 0, ssh.KeyAlgoECDSA256)
		asked, _ := os.ReadFile(filepath.Join(dir, "asked"))
		if want := "Allow use of key confirm-me?\nKey fingerprint " + ssh.FingerprintSHA256(pub) + ".\n"; !strings.HasPrefix(string(asked), want) {
			t.Errorf("askpass was asked %q, want %q first", asked, want)
		}
		if !strings.HasSuffix(string(asked), "\n"+uidString()+"\n") {
			t.Errorf("askpass saw TPMKEYD_UID in %q, want %s", asked, uidString())
		}
	})
	t.Run("no", func(t *testing.T) {
		os.Remove(filepath.Join(dir, "allow"))
		checkAgentSign(t, ag, pub, data, 0, "")
	})
	t.Run("marking-shows-confirm", func(t *testing.T) {
		var page protocol.SSHListResponse
		if st, msg := dialHello(t, td.socket).call(protocol.OpSSHList, &protocol.SSHListRequest{}, &page); st != protocol.StatusOK ||
			len(page.Keys) != 1 || !page.Keys[0].SSH.Confirm {
			t.Errorf("SSHList = %v (%s) %+v, want the one key with confirm", st, msg, page.Keys)
		}
	})
	t.Run("refused-without-askpass", func(t *testing.T) {
		td, sshSock := startSSHDaemon(t, "")
		if err := dialAgent(t, sshSock).Add(agent.AddedKey{PrivateKey: testECKey(t), ConfirmBeforeUse: true}); err == nil {
			t.Fatal("Add(confirm) without ssh_askpass = nil, want an error")
		}
		var page protocol.ListKeysResponse
		if st, msg := dialHello(t, td.socket).call(protocol.OpListKeys, &protocol.ListKeysRequest{}, &page); st != protocol.StatusOK || len(page.Keys) != 0 {
			t.Errorf("ListKeys after a refused ssh-add -c = %v (%s), %d keys, want OK, 0 (nothing imported)", st, msg, len(page.Keys))
		}
		c := dialHello(t, td.socket)
		runOpCases(t, c, []opCase{
			{name: "keygen", op: protocol.OpGenerateKey, want: protocol.StatusOK,
				req: &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}},
			{name: "enable-confirm", op: protocol.OpSSHKey, want: protocol.StatusPermissionDenied,
				req: &protocol.SSHKeyRequest{Alias: "k", Action: protocol.SSHEnable, Confirm: true}},
		})
	})
}

func uidString() string { return strconv.Itoa(os.Getuid()) }
