package pkcs11_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// TestTLSAndProxy makes a self-signed certificate with OpenSSL's pkcs11
// engine and the token's key, serves TLS with gnutls-serv on that key and
// certificate, checks gnutls-cli verifies it, and lists the token with
// p11tool through the p11-kit proxy and the shipped module config.
func TestTLSAndProxy(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	c := s.dial(t)
	if _, err := c.GenerateKey(ctx, "web", client.AlgECP256); err != nil {
		t.Fatal(err)
	}
	cert := filepath.Join(s.Dir, "web.crt")
	keyURI := "pkcs11:token=tpmkeyd;object=web;type=private"

	t.Run("openssl-engine-req", func(t *testing.T) {
		cnf := s.file(t, "engine.cnf", []byte(`openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = `+engineModule+`
MODULE_PATH = `+clientModule+`
init = 0
[req]
distinguished_name = dn
[dn]
`))
		r := s.run(t, nil, []string{"OPENSSL_CONF=" + cnf}, "openssl", "req", "-new", "-x509", "-engine", "pkcs11", "-keyform", "engine",
			"-key", keyURI, "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-days", "2", "-out", cert)
		if r.code != 0 {
			t.Fatalf("openssl req -engine pkcs11 = exit %d %s%s", r.code, r.stdout, r.stderr)
		}
		if out := s.openssl(t, "verify", "-CAfile", cert, cert); !strings.Contains(out, "OK") {
			t.Errorf("openssl verify = %q, want OK", out)
		}
	})
	t.Run("certificate-in-the-token", func(t *testing.T) {
		if _, err := os.Stat(cert); err != nil {
			t.Skip("no certificate: openssl-engine-req failed")
		}
		// pkcs11-tool --write-object stores it by CKA_ID (C_CreateObject);
		// tpmkey cert get reads it back; -O lists it with the key.
		der := filepath.Join(s.Dir, "web.der")
		s.openssl(t, "x509", "-in", cert, "-outform", "DER", "-out", der)
		k, err := c.Key(ctx, "web")
		if err != nil {
			t.Fatal(err)
		}
		if r := s.run(t, nil, nil, s.tpmkey, "cert", "get", "web"); r.code != 1 || !strings.Contains(r.stderr, `KEY_NOT_FOUND: key "web" has no certificate`) {
			t.Errorf("tpmkey cert get web before any = exit %d %q, want KEY_NOT_FOUND: key \"web\" has no certificate", r.code, r.stderr)
		}
		s.p11(t, "--write-object", der, "--type", "cert", "--id", hex.EncodeToString(k.ID), "--label", "web")
		got, err := c.Certificate(ctx, "web")
		want, _ := os.ReadFile(der)
		if err != nil || !bytes.Equal(got.DER, want) {
			t.Fatalf("Certificate(web) after pkcs11-tool --write-object = %v, %v; want the certificate", got, err)
		}
		if r := s.run(t, nil, nil, s.tpmkey, "cert", "get", "web"); r.code != 0 || !strings.Contains(r.stdout, "BEGIN CERTIFICATE") {
			t.Errorf("tpmkey cert get web = exit %d %q %q", r.code, r.stdout, r.stderr)
		}
		if out := s.p11(t, "-O", "--type", "cert"); !strings.Contains(out, "Certificate Object; type = X.509 cert") || !strings.Contains(out, "label:      web") {
			t.Errorf("pkcs11-tool -O --type cert = %q, want web's X.509 certificate", out)
		}
		// A certificate of another key is refused.
		other := filepath.Join(s.Dir, "other.pem")
		s.openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", filepath.Join(s.Dir, "other.key"),
			"-subj", "/CN=other", "-days", "1", "-out", other)
		if r := s.run(t, nil, nil, s.tpmkey, "cert", "put", "web", "--in", other); r.code == 0 || !strings.Contains(r.stderr, "BAD_REQUEST") {
			t.Errorf("tpmkey cert put web with another key's certificate = exit %d %q, want BAD_REQUEST", r.code, r.stderr)
		}
		if r := s.run(t, nil, nil, s.tpmkey, "cert", "put", "web", "--in", cert); r.code != 0 {
			t.Errorf("tpmkey cert put web = exit %d %q", r.code, r.stderr)
		}
	})
	t.Run("gnutls-handshake", func(t *testing.T) {
		if _, err := os.Stat(cert); err != nil {
			t.Skip("no certificate: openssl-engine-req failed")
		}
		port := freePort(t)
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// Key and certificate both from the token.
		srv := exec.CommandContext(sctx, "gnutls-serv", "--provider", clientModule, "--x509keyfile", keyURI,
			"--x509certfile", "pkcs11:token=tpmkeyd;object=web;type=cert", "-p", strconv.Itoa(port))
		srv.Env = append(os.Environ(), "P11_KIT_SERVER_ADDRESS=unix:path="+s.p11sock)
		var slog strings.Builder
		srv.Stdout, srv.Stderr = &slog, &slog
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cancel(); srv.Wait() }()
		waitPort(t, port)
		for _, prio := range []string{"NORMAL", "NORMAL:-VERS-TLS1.3"} {
			cli := exec.CommandContext(ctx, "gnutls-cli", "--priority", prio, "--x509cafile", cert, "-p", strconv.Itoa(port), "localhost")
			cli.Stdin = strings.NewReader("")
			out, err := cli.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Handshake was completed") || !strings.Contains(string(out), "certificate is trusted") {
				t.Errorf("gnutls-cli --priority %s = %v\n%s\nserver:\n%s", prio, err, out, slog.String())
			}
		}
	})
	t.Run("p11tool-through-proxy", func(t *testing.T) {
		// p11-kit reads user module configs only for non-root programs, so
		// this runs as nobody, with the shipped config pointed at the test
		// socket.
		home, err := os.MkdirTemp("", "pkcs11-home")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(home)
		mods := filepath.Join(home, ".config", "pkcs11", "modules")
		os.MkdirAll(mods, 0o755)
		shipped, err := os.ReadFile("../../packaging/p11-kit/tpmkeyd.module")
		if err != nil {
			t.Fatal(err)
		}
		conf := strings.ReplaceAll(string(shipped), "/run/tpmkeyd/pkcs11.sock", s.p11sock)
		if err := os.WriteFile(filepath.Join(mods, "tpmkeyd.module"), []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		chownR(t, home, nobody)
		cred := &syscall.Credential{Uid: nobody, Gid: nobody}
		env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "TPMKEY_TRUST_SERVER_UID=0"}
		if r := s.run(t, cred, env, s.tpmkey, "keygen", "mine", "--alg", "ec-p256"); r.code != 0 {
			t.Fatalf("tpmkey keygen as nobody = exit %d %s", r.code, r.stderr)
		}
		r := s.run(t, cred, env, "p11tool", "--list-all", "pkcs11:token=tpmkeyd")
		out := r.stdout + r.stderr
		if r.code != 0 || !strings.Contains(out, "object=mine") || strings.Contains(out, "object=web") {
			t.Errorf("p11tool --list-all pkcs11:token=tpmkeyd as nobody = exit %d\n%s\nwant nobody's key mine and not root's web", r.code, out)
		}
		r = s.run(t, cred, env, "p11tool", "--list-tokens")
		if !strings.Contains(r.stdout, "Label: tpmkeyd") || !strings.Contains(r.stdout, "Serial: uid65534") {
			t.Errorf("p11tool --list-tokens as nobody = %q, want the tpmkeyd token of uid 65534", r.stdout)
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
func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}

func chownR(t *testing.T, dir string, uid int) {
	t.Helper()
	filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, uid, uid)
		}
		return err
	})
}
