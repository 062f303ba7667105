// The ssh-add constraints against real OpenSSH: destination constraints
// (ssh-add -h, testSSHDestinations, run by TestSSHAgentOpenSSH) and
// confirmation (ssh-add -c).

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// testSSHDestinations: ssh-add -h with a known_hosts file naming the
// throwaway sshd's (TPM) host key "tpmhost"; then ssh logs in to it only
// where the constraint allows it (the host and the user), and a forwarded
// agent (ssh -A) offers and uses the key beyond the first host only when
// a "tpmhost>tpmhost" hop permits it, as OpenSSH's own agent does.
func testSSHDestinations(t *testing.T, e *sshEnv, port int, knownHosts, hostPub, authKeys string, logs *bytes.Buffer) {
	e = e.with(t)
	key := filepath.Join(e.dir, "dest-key")
	if r := e.run(nil, nil, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "dest-key", "-f", key); r.code != 0 {
		t.Fatalf("ssh-keygen = %d %q", r.code, r.stderr)
	}
	pubLine, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(authKeys, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(pubLine)
	f.Close()
	hk := e.write("dest_known_hosts", "tpmhost "+keyField(hostPub)+"\nelsewhere "+keyField(e.tpmkey(nil, "ssh", "pubkey", "tls"))+"\n")
	sshArgs := func(cmd ...string) []string {
		return append([]string{"-F", "/dev/null", "-o", "IdentityAgent=" + e.sock, "-o", "IdentitiesOnly=yes",
			"-i", key + ".pub", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts,
			"-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256", "-o", "BatchMode=yes",
			"-p", strconv.Itoa(port), "root@127.0.0.1"}, cmd...)
	}
	// The second hop runs on the sshd's side, through the forwarded agent.
	hop2 := fmt.Sprintf("ssh -F /dev/null -o IdentitiesOnly=yes -i %s.pub -o StrictHostKeyChecking=yes -o UserKnownHostsFile=%s "+
		"-o HostKeyAlgorithms=ecdsa-sha2-nistp256 -o BatchMode=yes -p %d root@127.0.0.1 echo hop2-ok", key, knownHosts, port)
	tests := []struct {
		name        string
		constraints []string // ssh-add -h arguments
		login       bool     // ssh root@ logs in
		fwdListed   bool     // ssh -A: ssh-add -L on the host shows the key
		hop2        bool     // ssh -A: ssh from the host on to it again logs in
	}{
		{"to-the-host", []string{"tpmhost"}, true, false, false},
		{"to-the-host-as-root", []string{"root@tpmhost"}, true, false, false},
		{"as-another-user", []string{"alice@tpmhost"}, false, false, false},
		{"to-another-host", []string{"elsewhere"}, false, false, false},
		{"through-the-host", []string{"tpmhost", "tpmhost>root@tpmhost"}, true, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"-H", hk}
			for _, c := range tc.constraints {
				args = append(args, "-h", c)
			}
			if r := e.run(nil, nil, "ssh-add", append(args, key)...); r.code != 0 {
				t.Fatalf("ssh-add %v = %d %q", args, r.code, r.stderr)
			}
			if l := e.tpmkey(nil, "ssh", "list"); !strings.Contains(l, strings.Join(tc.constraints, ",")) {
				t.Errorf("tpmkey ssh list = %q, want the destinations %v", l, tc.constraints)
			}
			r := e.run(nil, nil, "ssh", sshArgs("echo", "logged-in")...)
			if got := r.code == 0 && strings.TrimSpace(r.stdout) == "logged-in"; got != tc.login {
				t.Errorf("ssh with -h %v: logged in = %v (%d %q %q), want %v\nsshd:\n%s", tc.constraints, got, r.code, r.stdout, r.stderr, tc.login, logs.String())
			}
			if !tc.login {
				return
			}
			r = e.run(nil, nil, "ssh", append([]string{"-A"}, sshArgs("ssh-add", "-L")...)...)
			if got := strings.Contains(r.stdout, keyField(string(pubLine))); got != tc.fwdListed {
				t.Errorf("ssh -A ... ssh-add -L with -h %v: key listed = %v (%q %q), want %v", tc.constraints, got, r.stdout, r.stderr, tc.fwdListed)
			}
			r = e.run(nil, nil, "ssh", append([]string{"-A"}, sshArgs(hop2)...)...)
			if got := strings.Contains(r.stdout, "hop2-ok"); got != tc.hop2 {
				t.Errorf("ssh -A ... ssh (second hop) with -h %v: logged in = %v (%d %q %q), want %v", tc.constraints, got, r.code, r.stdout, r.stderr, tc.hop2)
			}
		})
	}
	// A key made in the TPM gets the same constraints from tpmkey ssh
	// enable --dest, its host keys from a hashed known_hosts file.
	t.Run("tpmkey-ssh-enable-dest", func(t *testing.T) {
		e.tpmkey(nil, "keygen", "destkey", "--alg", "ec-p256")
		line := strings.TrimSpace(e.tpmkey(nil, "ssh", "pubkey", "destkey"))
		pubFile := e.write("destkey.pub", line+"\n")
		f, err := os.OpenFile(authKeys, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(line + "\n")
		f.Close()
		hashed := e.write("hashed_known_hosts", "tpmhost "+keyField(hostPub)+"\nelsewhere "+keyField(e.tpmkey(nil, "ssh", "pubkey", "tls"))+"\n")
		if r := e.run(nil, nil, "ssh-keygen", "-q", "-H", "-f", hashed); r.code != 0 {
			t.Fatalf("ssh-keygen -H = %d %q", r.code, r.stderr)
		}
		if b, _ := os.ReadFile(hashed); strings.Contains(string(b), "tpmhost") {
			t.Fatalf("ssh-keygen -H left the names in %q", b)
		}
		for _, tc := range []struct {
			dest  string
			login bool
		}{{"root@tpmhost", true}, {"elsewhere", false}} {
			e.tpmkey(nil, "ssh", "enable", "destkey", "--dest", tc.dest, "--known-hosts", hashed)
			r := e.run(nil, nil, "ssh", "-F", "/dev/null", "-o", "IdentityAgent="+e.sock, "-o", "IdentitiesOnly=yes",
				"-i", pubFile, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
				"-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256", "-o", "BatchMode=yes",
				"-p", strconv.Itoa(port), "root@127.0.0.1", "echo", "logged-in")
			if got := r.code == 0 && strings.TrimSpace(r.stdout) == "logged-in"; got != tc.login {
				t.Errorf("ssh with a TPM key enabled --dest %s: logged in = %v (%d %q), want %v", tc.dest, got, r.code, r.stderr, tc.login)
			}
		}
		if r := runCLI(t, e.b, e.s, nil, nil, "ssh", "enable", "destkey", "--dest", "nowhere", "--known-hosts", hashed); r.code == 0 {
			t.Errorf("tpmkey ssh enable --dest of a host without keys = 0, want an error")
		}
		e.tpmkey(nil, "ssh", "disable", "destkey")
	})
	// The key is used for ssh-keygen -Y sign (no session binding): refused
	// while constrained, as OpenSSH refuses it.
	msg := e.write("dest-msg", "hello")
	if r := e.run(nil, nil, "ssh-keygen", "-Y", "sign", "-f", key+".pub", "-n", "file", msg); r.code == 0 {
		t.Errorf("ssh-keygen -Y sign with a destination-constrained key = 0, want refused")
	}
	if r := e.run(nil, nil, "ssh-add", "-d", key+".pub"); r.code != 0 {
		t.Errorf("ssh-add -d = %d %q", r.code, r.stderr)
	}
}

// TestSSHAddConfirmOpenSSH: with ssh_askpass configured, a key added with
// the real ssh-add -c signs (ssh-keygen -Y sign) only while the askpass
// program, a shell script here, says yes (exit 0).
func TestSSHAddConfirmOpenSSH(t *testing.T) {
	for _, tool := range []string{"ssh-add", "ssh-keygen"} {
		swtpmtest.RequireTool(t, tool)
	}
	dir := shortTempDir(t)
	sock := filepath.Join(dir, "ssh-agent.sock")
	allow := filepath.Join(dir, "allow")
	askpass := filepath.Join(dir, "askpass")
	script := "#!/bin/sh\n[ \"$SSH_ASKPASS_PROMPT\" = confirm ] || exit 3\ntest -e " + allow + "\n"
	if err := os.WriteFile(askpass, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "tpmkeyd.toml")
	if err := os.WriteFile(cfg, []byte("ssh_askpass = \""+askpass+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _, b := startStack(t, "--ssh-socket", sock, "--config", cfg)
	e := &sshEnv{t: t, s: s, b: b, sock: sock, dir: dir}
	key := filepath.Join(dir, "confirm-key")
	if r := e.run(nil, nil, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", key); r.code != 0 {
		t.Fatalf("ssh-keygen = %d %q", r.code, r.stderr)
	}
	if r := e.run(nil, nil, "ssh-add", "-c", key); r.code != 0 {
		t.Fatalf("ssh-add -c with ssh_askpass = %d %q, want 0", r.code, r.stderr)
	}
	os.Remove(key) // the TPM holds it now
	msg := e.write("msg", "hello")
	for _, tc := range []struct {
		name string
		yes  bool
	}{{"askpass-yes", true}, {"askpass-no", false}} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(allow)
			if tc.yes {
				os.WriteFile(allow, nil, 0o644)
			}
			os.Remove(msg + ".sig")
			r := e.run(nil, nil, "ssh-keygen", "-Y", "sign", "-f", key+".pub", "-n", "file", msg)
			if (r.code == 0) != tc.yes {
				t.Errorf("ssh-keygen -Y sign with askpass saying %v = %d %q, want success %v", tc.yes, r.code, r.stderr, tc.yes)
			}
		})
	}
}
