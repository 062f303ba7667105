package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// sshEnv runs OpenSSH's and git's tools against the daemon's ssh-agent
// socket.
type sshEnv struct {
	t     *testing.T
	s     *e2e.Stack
	b     *binaries
	sock  string
	dir   string
	extra []string // more environment
}

// run runs name with SSH_AUTH_SOCK set, as cred's uid when cred is set.
func (e *sshEnv) run(cred *syscall.Credential, stdin []byte, name string, args ...string) cliResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK="+e.sock, "HOME="+e.dir)
	cmd.Env = append(cmd.Env, e.extra...)
	cmd.Dir = e.dir
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	res := cliResult{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("%s %v: %v", name, args, err)
	}
	return res
}

func (e *sshEnv) tpmkey(cred *syscall.Credential, args ...string) string {
	e.t.Helper()
	r := runCLI(e.t, e.b, e.s, cred, nil, args...)
	if r.code != 0 {
		e.t.Fatalf("tpmkey %v = %d %q", args, r.code, r.stderr)
	}
	return r.stdout
}

func (e *sshEnv) write(name, body string) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// with is e for subtest t.
func (e *sshEnv) with(t *testing.T) *sshEnv {
	c := *e
	c.t = t
	return &c
}

// shortTempDir is a world-readable temp dir with a short path (a socket
// path has 108 bytes), removed after the test.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tkssh")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keyField is the "type base64" part of an authorized_keys line.
func keyField(line string) string {
	f := strings.Fields(line)
	if len(f) < 2 {
		return line
	}
	return f[0] + " " + f[1]
}

// TestSSHAgentOpenSSH drives the ssh-agent socket with Debian's OpenSSH and
// git, on one daemon and one swtpm: ssh-add -L lists exactly the marked
// keys of the caller, ssh-keygen -Y signs, a throwaway sshd logs in with
// TPM user keys and proves its TPM host key through HostKeyAgent, git signs
// commits, ssh-add -c is refused, -x/-X lock per uid, -D only unmarks.
func TestSSHAgentOpenSSH(t *testing.T) {
	for _, tool := range []string{"ssh-add", "ssh-keygen", "ssh", "git"} {
		swtpmtest.RequireTool(t, tool)
	}
	dir := shortTempDir(t) // other uids run tools in it
	sock := filepath.Join(dir, "ssh-agent.sock")
	s, _, b := startStack(t, "--ssh-socket", sock)
	e := &sshEnv{t: t, s: s, b: b, sock: sock, dir: dir}
	nobody := &syscall.Credential{Uid: nobody, Gid: nobody}

	e.tpmkey(nil, "keygen", "ec", "--alg", "ec-p256", "--ssh", "--comment", "ec@tpm")
	e.tpmkey(nil, "keygen", "rsa", "--alg", "rsa-2048", "--ssh")
	e.tpmkey(nil, "keygen", "tls", "--alg", "ec-p256")
	pub := map[string]string{}
	for _, alias := range []string{"ec", "rsa", "tls"} {
		pub[alias] = strings.TrimSpace(e.tpmkey(nil, "ssh", "pubkey", alias))
		e.write(alias+".pub", pub[alias]+"\n")
	}

	t.Run("ssh-add-lists-marked-keys", func(t *testing.T) {
		e := e.with(t)
		r := e.run(nil, nil, "ssh-add", "-L")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if r.code != 0 || len(lines) != 2 {
			t.Fatalf("ssh-add -L = %d %q %q, want the 2 marked keys", r.code, r.stdout, r.stderr)
		}
		got := map[string]bool{keyField(lines[0]): true, keyField(lines[1]): true}
		if !got[keyField(pub["ec"])] || !got[keyField(pub["rsa"])] || got[keyField(pub["tls"])] {
			t.Errorf("ssh-add -L = %q, want ec and rsa, not tls", r.stdout)
		}
		if !strings.Contains(r.stdout, "ec@tpm") {
			t.Errorf("ssh-add -L = %q, want the comment ec@tpm", r.stdout)
		}
	})
	t.Run("other-uid-sees-none", func(t *testing.T) {
		e := e.with(t)
		if os.Getuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatal("CI runs as root; this test must run there")
			}
			t.Skip("needs root to run as another uid")
		}
		r := e.run(nobody, nil, "ssh-add", "-L")
		if r.code == 0 || strings.Contains(r.stdout, "ecdsa") || strings.Contains(r.stdout, "ssh-rsa") {
			t.Errorf("ssh-add -L as nobody = %d %q, want no identities", r.code, r.stdout)
		}
	})
	t.Run("ssh-keygen-Y-sign-verify", func(t *testing.T) {
		data := e.write("data.txt", "signed with a TPM key\n")
		for _, alias := range []string{"ec", "rsa"} {
			r := e.run(nil, nil, "ssh-keygen", "-Y", "sign", "-f", filepath.Join(dir, alias+".pub"), "-n", "file", data)
			if r.code != 0 {
				t.Fatalf("ssh-keygen -Y sign -f %s.pub = %d %q", alias, r.code, r.stderr)
			}
			signers := e.write("allowed_signers", "me@tpm "+keyField(pub[alias])+"\n")
			verify := func(file string) cliResult {
				in, _ := os.ReadFile(file)
				return e.run(nil, in, "ssh-keygen", "-Y", "verify", "-f", signers, "-I", "me@tpm", "-n", "file", "-s", data+".sig")
			}
			if r := verify(data); r.code != 0 {
				t.Errorf("ssh-keygen -Y verify (%s) = %d %q %q, want success", alias, r.code, r.stdout, r.stderr)
			}
			if r := verify(e.write("tampered.txt", "signed with a TPM key!\n")); r.code == 0 {
				t.Errorf("ssh-keygen -Y verify of a tampered file (%s) = 0, want failure", alias)
			}
			os.Remove(data + ".sig")
		}
	})
	t.Run("git-commit-S", func(t *testing.T) {
		repo := filepath.Join(dir, "repo")
		signers := e.write("git_signers", "me@tpm "+keyField(pub["ec"])+"\n")
		steps := [][]string{
			{"init", "-q", repo},
			{"-C", repo, "config", "user.name", "Me"},
			{"-C", repo, "config", "user.email", "me@tpm"},
			{"-C", repo, "config", "gpg.format", "ssh"},
			{"-C", repo, "config", "user.signingkey", filepath.Join(dir, "ec.pub")},
			{"-C", repo, "config", "gpg.ssh.allowedSignersFile", signers},
			{"-C", repo, "commit", "-q", "-S", "--allow-empty", "-m", "signed by the TPM"},
			{"-C", repo, "verify-commit", "HEAD"},
		}
		for _, args := range steps {
			if r := e.run(nil, nil, "git", args...); r.code != 0 {
				t.Fatalf("git %v = %d %q %q", args, r.code, r.stdout, r.stderr)
			}
		}
	})
	t.Run("sshd-login-and-host-key", func(t *testing.T) { testSSHDLogin(t, e, pub) })
	t.Run("ssh-add-c-refused", func(t *testing.T) {
		e := e.with(t)
		key := filepath.Join(dir, "made-by-ssh-keygen")
		if r := e.run(nil, nil, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", key); r.code != 0 {
			t.Fatalf("ssh-keygen = %d %q", r.code, r.stderr)
		}
		if r := e.run(nil, nil, "ssh-add", "-c", key); r.code == 0 {
			t.Errorf("ssh-add -c = 0 %q, want refused", r.stderr)
		}
		if r := e.run(nil, nil, "ssh-add", "-L"); strings.Count(r.stdout, "\n") != 3 {
			t.Errorf("ssh-add -L after a refused ssh-add -c = %q, want the 3 keys of before (ec, rsa, hostkey)", r.stdout)
		}
	})
	t.Run("lock-per-uid", func(t *testing.T) { testSSHLock(t, e, nobody) })
	var imported []string // aliases of the keys ssh-add imported
	t.Run("ssh-add-imports-key-files", func(t *testing.T) {
		e := e.with(t)
		imported = testSSHAddImport(t, e)
	})
	t.Run("ssh-add-D-keeps-keys", func(t *testing.T) {
		if r := e.run(nil, nil, "ssh-add", "-D"); r.code != 0 {
			t.Fatalf("ssh-add -D = %d %q", r.code, r.stderr)
		}
		if r := e.run(nil, nil, "ssh-add", "-L"); r.code == 0 {
			t.Errorf("ssh-add -L after -D = 0 %q, want no identities", r.stdout)
		}
		list := e.tpmkey(nil, "list")
		for _, alias := range append([]string{"ec", "rsa", "tls"}, imported...) {
			if !strings.Contains(list, alias) {
				t.Errorf("tpmkey list after ssh-add -D = %q, want %s still there", list, alias)
			}
		}
	})
}

// testSSHLock: ssh-add -x locks root's agent only; nobody's keys still
// list; ssh-add -X unlocks.
func testSSHLock(t *testing.T, e *sshEnv, nobody *syscall.Credential) {
	e = e.with(t)
	askpass := e.write("askpass", "#!/bin/sh\necho lock-pass\n")
	os.Chmod(askpass, 0o755)
	e.extra = []string{"SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0"}
	defer func() { e.extra = nil }()
	if r := e.run(nil, nil, "ssh-add", "-x"); r.code != 0 {
		t.Fatalf("ssh-add -x = %d %q", r.code, r.stderr)
	}
	if r := e.run(nil, nil, "ssh-add", "-L"); r.code == 0 && strings.TrimSpace(r.stdout) != "" {
		t.Errorf("ssh-add -L on a locked agent = %q, want nothing", r.stdout)
	}
	data := e.write("locked.txt", "x\n")
	if r := e.run(nil, nil, "ssh-keygen", "-Y", "sign", "-f", filepath.Join(e.dir, "ec.pub"), "-n", "file", data); r.code == 0 {
		t.Errorf("ssh-keygen -Y sign on a locked agent = 0, want failure")
	}
	if os.Getuid() == 0 {
		e.tpmkey(nobody, "keygen", "nk", "--alg", "ec-p256", "--ssh")
		if r := e.run(nobody, nil, "ssh-add", "-L"); r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("ssh-add -L as nobody while root is locked = %d %q %q, want nobody's one key", r.code, r.stdout, r.stderr)
		}
	}
	if r := e.run(nil, nil, "ssh-add", "-X"); r.code != 0 {
		t.Fatalf("ssh-add -X = %d %q", r.code, r.stderr)
	}
	if r := e.run(nil, nil, "ssh-add", "-L"); r.code != 0 || strings.Count(r.stdout, "\n") != 3 {
		t.Errorf("ssh-add -L after -X = %d %q, want the 3 keys (ec, rsa, hostkey)", r.code, r.stdout)
	}
}

// testSSHDLogin runs a throwaway sshd on a free loopback port whose host
// key is the TPM key "hostkey" (HostKeyAgent), and logs in with the TPM
// user keys, ECDSA P-256 and RSA (rsa-sha2-256), checking the host key
// against a known_hosts line made from tpmkey ssh pubkey.
func testSSHDLogin(t *testing.T, e *sshEnv, pub map[string]string) {
	e = e.with(t)
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test must run there")
		}
		t.Skip("sshd needs root")
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		swtpmtest.Missing(t, fmt.Errorf("sshd: %w", err))
	}
	e.tpmkey(nil, "keygen", "hostkey", "--alg", "ec-p256", "--ssh")
	hostPub := strings.TrimSpace(e.tpmkey(nil, "ssh", "pubkey", "hostkey"))
	hostPubFile := e.write("ssh_host_tpm_ecdsa_key.pub", hostPub+"\n")
	authKeys := e.write("authorized_keys", pub["ec"]+"\n"+pub["rsa"]+"\n")
	os.MkdirAll("/run/sshd", 0o755)
	port := freePort(t)
	cfg := e.write("sshd_config", fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
HostKeyAgent %s
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
TrustedUserCAKeys %s
PidFile %s
`, port, hostPubFile, e.sock, authKeys, filepath.Join(e.dir, "user_ca.pub"), filepath.Join(e.dir, "sshd.pid")))
	var logs bytes.Buffer
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("sshd: %v", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitPort(t, port, &logs)
	knownHosts := e.write("known_hosts", fmt.Sprintf("[127.0.0.1]:%d %s\n", port, keyField(hostPub)))
	for _, tc := range []struct{ alias, algs string }{
		{"ec", "ecdsa-sha2-nistp256"},
		{"rsa", "rsa-sha2-256"},
	} {
		t.Run(tc.alias, func(t *testing.T) {
			r := e.run(nil, nil, "ssh", "-F", "/dev/null", "-o", "IdentityAgent="+e.sock, "-o", "IdentitiesOnly=yes",
				"-i", filepath.Join(e.dir, tc.alias+".pub"), "-o", "PubkeyAcceptedAlgorithms="+tc.algs,
				"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
				"-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256", "-o", "BatchMode=yes",
				"-p", strconv.Itoa(port), "root@127.0.0.1", "echo", "logged-in")
			if r.code != 0 || strings.TrimSpace(r.stdout) != "logged-in" {
				t.Errorf("ssh with %s (%s) = %d %q %q\nsshd:\n%s", tc.alias, tc.algs, r.code, r.stdout, r.stderr, logs.String())
			}
		})
	}
	t.Run("certificate", func(t *testing.T) {
		ca := filepath.Join(e.dir, "user_ca")
		if r := e.run(nil, nil, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", ca); r.code != 0 {
			t.Fatalf("ssh-keygen CA = %d %q", r.code, r.stderr)
		}
		// A key of its own, so that ec's plain key cannot log in instead.
		e.tpmkey(nil, "keygen", "certkey", "--alg", "ec-p256")
		pubFile := e.write("certkey.pub", strings.TrimSpace(e.tpmkey(nil, "ssh", "pubkey", "certkey"))+"\n")
		if r := e.run(nil, nil, "ssh-keygen", "-q", "-s", ca, "-I", "tpm-user", "-n", "root", pubFile); r.code != 0 {
			t.Fatalf("ssh-keygen -s = %d %q", r.code, r.stderr)
		}
		certFile := filepath.Join(e.dir, "certkey-cert.pub")
		e.tpmkey(nil, "ssh", "enable", "certkey", "--cert", certFile)
		if r := e.run(nil, nil, "ssh-add", "-L"); !strings.Contains(r.stdout, "ecdsa-sha2-nistp256-cert-v01@openssh.com") {
			t.Fatalf("ssh-add -L = %q, want the certificate listed", r.stdout)
		}
		r := e.run(nil, nil, "ssh", "-F", "/dev/null", "-o", "IdentityAgent="+e.sock, "-o", "IdentitiesOnly=yes",
			"-i", certFile, "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
			"-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256", "-o", "BatchMode=yes",
			"-p", strconv.Itoa(port), "root@127.0.0.1", "echo", "cert-ok")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "cert-ok" {
			t.Errorf("ssh with the certificate = %d %q %q\nsshd:\n%s", r.code, r.stdout, r.stderr, logs.String())
		}
		e.tpmkey(nil, "ssh", "disable", "certkey")
	})
	t.Run("go-client-SSHSigner", func(t *testing.T) {
		cl := dial(t, e.s)
		hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(hostPub))
		if err != nil {
			t.Fatal(err)
		}
		for _, alias := range []string{"ec", "rsa"} {
			signer, err := cl.SSHSigner(context.Background(), alias)
			if err != nil {
				t.Fatalf("SSHSigner(%s) = %v", alias, err)
			}
			conn, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &ssh.ClientConfig{User: "root",
				Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(hostKey),
				Timeout: 20 * time.Second})
			if err != nil {
				t.Fatalf("ssh.Dial with SSHSigner(%s) = %v\nsshd:\n%s", alias, err, logs.String())
			}
			conn.Close()
		}
	})
	t.Run("destination-constraints", func(t *testing.T) {
		testSSHDestinations(t, e, port, knownHosts, hostPub, authKeys, &logs)
	})
	t.Run("wrong-known-host-refused", func(t *testing.T) {
		e := e.with(t)
		bad := e.write("known_hosts_bad", fmt.Sprintf("[127.0.0.1]:%d %s\n", port, keyField(pub["tls"])))
		r := e.run(nil, nil, "ssh", "-F", "/dev/null", "-o", "IdentityAgent="+e.sock, "-o", "IdentitiesOnly=yes",
			"-i", filepath.Join(e.dir, "ec.pub"), "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+bad,
			"-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256", "-o", "BatchMode=yes",
			"-p", strconv.Itoa(port), "root@127.0.0.1", "true")
		if r.code == 0 {
			t.Errorf("ssh against another host key = 0, want a host key mismatch")
		}
	})
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPort polls until something listens on port.
func waitPort(t *testing.T, port int, logs *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("sshd not listening on %d after 20s:\n%s", port, logs.String())
}

// testSSHAddImport: ssh-add of ssh-keygen-made ECDSA and RSA keys, with and
// without -t, imports them into the TPM; after the private files are gone
// the keys still sign (ssh-keygen -Y), -t shows as the marking's end, and a
// certificate next to the key file is stored and listed. It returns the
// imported keys' aliases.
func testSSHAddImport(t *testing.T, e *sshEnv) []string {
	ca := filepath.Join(e.dir, "import_ca")
	if r := e.run(nil, nil, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", ca); r.code != 0 {
		t.Fatalf("ssh-keygen CA = %d %q", r.code, r.stderr)
	}
	data := e.write("imported.txt", "signed by an imported key\n")
	for _, tc := range []struct {
		name, typ, bits string
		life            []string
	}{
		{"ecdsa", "ecdsa", "256", nil},
		{"rsa", "rsa", "2048", []string{"-t", "600"}},
	} {
		key := filepath.Join(e.dir, "imp-"+tc.name)
		if r := e.run(nil, nil, "ssh-keygen", "-q", "-t", tc.typ, "-b", tc.bits, "-N", "", "-C", "imp-"+tc.name+"@host", "-f", key); r.code != 0 {
			t.Fatalf("ssh-keygen -t %s = %d %q", tc.typ, r.code, r.stderr)
		}
		if r := e.run(nil, nil, "ssh-add", append(tc.life, key)...); r.code != 0 {
			t.Fatalf("ssh-add %v %s = %d %q", tc.life, tc.name, r.code, r.stderr)
		}
		if r := e.run(nil, nil, "ssh-add", append(tc.life, key)...); r.code != 0 {
			t.Errorf("ssh-add of the same key again = %d %q, want success", r.code, r.stderr)
		}
		pubLine, _ := os.ReadFile(key + ".pub")
		if r := e.run(nil, nil, "ssh-add", "-L"); !strings.Contains(r.stdout, keyField(string(pubLine))) {
			t.Fatalf("ssh-add -L = %q, want the imported %s key", r.stdout, tc.name)
		}
		os.Remove(key) // the private key file is not needed any more
		r := e.run(nil, nil, "ssh-keygen", "-Y", "sign", "-f", key+".pub", "-n", "file", data)
		if r.code != 0 {
			t.Fatalf("ssh-keygen -Y sign with the imported %s key = %d %q", tc.name, r.code, r.stderr)
		}
		signers := e.write("imp_signers", "me@tpm "+keyField(string(pubLine))+"\n")
		in, _ := os.ReadFile(data)
		if r := e.run(nil, in, "ssh-keygen", "-Y", "verify", "-f", signers, "-I", "me@tpm", "-n", "file", "-s", data+".sig"); r.code != 0 {
			t.Errorf("ssh-keygen -Y verify (imported %s) = %d %q %q", tc.name, r.code, r.stdout, r.stderr)
		}
		os.Remove(data + ".sig")
	}
	var listed struct {
		Keys []sshKeyJSON `json:"keys"`
	}
	if err := json.Unmarshal([]byte(e.tpmkey(nil, "ssh", "list", "--json")), &listed); err != nil {
		t.Fatal(err)
	}
	var aliases []string
	for _, k := range listed.Keys {
		switch k.Comment {
		case "imp-ecdsa@host":
			if k.NotAfter != "" {
				t.Errorf("ssh list: imp-ecdsa not_after = %q, want none", k.NotAfter)
			}
			aliases = append(aliases, k.Alias)
		case "imp-rsa@host":
			if na, err := time.Parse(time.RFC3339, k.NotAfter); err != nil || time.Until(na) > 601*time.Second || time.Until(na) < 500*time.Second {
				t.Errorf("ssh list: imp-rsa (ssh-add -t 600) not_after = %q, want about 10 minutes from now", k.NotAfter)
			}
			aliases = append(aliases, k.Alias)
		}
	}
	if len(aliases) != 2 {
		t.Fatalf("tpmkey ssh list = %+v, want the 2 imported keys", listed.Keys)
	}
	// A certificate next to a key file: ssh-add adds the key, then the
	// certificate; the key is the one already imported.
	key := filepath.Join(e.dir, "imp-cert")
	if r := e.run(nil, nil, "ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", key); r.code != 0 {
		t.Fatalf("ssh-keygen = %d %q", r.code, r.stderr)
	}
	if r := e.run(nil, nil, "ssh-keygen", "-q", "-s", ca, "-I", "imported", "-n", "root", key+".pub"); r.code != 0 {
		t.Fatalf("ssh-keygen -s = %d %q", r.code, r.stderr)
	}
	if r := e.run(nil, nil, "ssh-add", key); r.code != 0 || !strings.Contains(r.stderr, "Certificate added") {
		t.Fatalf("ssh-add of a key with its certificate = %d %q", r.code, r.stderr)
	}
	cert, _ := os.ReadFile(key + "-cert.pub")
	if r := e.run(nil, nil, "ssh-add", "-L"); !strings.Contains(r.stdout, keyField(string(cert))) {
		t.Errorf("ssh-add -L = %q, want the certificate", r.stdout)
	}
	return aliases
}
