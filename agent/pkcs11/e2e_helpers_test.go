package pkcs11_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// clientModule is Debian's p11-kit client module (p11-kit-modules).
const clientModule = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"

// engineModule is OpenSSL 3's pkcs11 engine (libengine-pkcs11-openssl).
const engineModule = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"

// nobody is the uid of the cross-uid and p11-kit proxy tests.
const nobody = 65534

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// bins builds tpmkeyd and tpmkey once, into a directory others may read.
func bins(t testing.TB) (tpmkeyd, tpmkey string) {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "pkcs11-bin"); binErr != nil {
			return
		}
		if binErr = os.Chmod(binDir, 0o755); binErr != nil {
			return
		}
		_, binErr = e2e.Build(context.Background(), binDir, "cmd/tpmkeyd", "cmd/tpmkey")
	})
	if binErr != nil {
		t.Fatalf("building the binaries: %v", binErr)
	}
	return filepath.Join(binDir, "tpmkeyd"), filepath.Join(binDir, "tpmkey")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// requireTools skips (fails under CI=true) when a program or file the
// tests run is missing.
func requireTools(t testing.TB) {
	t.Helper()
	swtpmtest.RequireSwtpm(t)
	for _, tool := range []string{"pkcs11-tool", "openssl", "p11tool", "gnutls-serv", "gnutls-cli"} {
		swtpmtest.RequireTool(t, tool)
	}
	for _, f := range []string{clientModule, engineModule} {
		if _, err := os.Stat(f); err != nil {
			swtpmtest.Missing(t, err)
		}
	}
}

// stack is one swtpm and tpmkeyd with its PKCS#11 socket.
type stack struct {
	*e2e.Stack
	p11sock string
	tpmkey  string
}

func startStack(t testing.TB, args ...string) *stack {
	t.Helper()
	requireTools(t)
	tpmkeyd, tpmkey := bins(t)
	dir, err := os.MkdirTemp("", "pkcs11-sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // other uids reach the socket
	sock := filepath.Join(dir, "pkcs11.sock")
	s, _ := e2e.StartStack(t, tpmkeyd, append([]string{"--pkcs11-socket", sock}, args...)...)
	return &stack{Stack: s, p11sock: sock, tpmkey: tpmkey}
}

func (s *stack) dial(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), s.Socket, client.WithTrustSameUser())
	if err != nil {
		t.Fatalf("client.Dial = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs a program with the token's address set, as cred when given.
func (s *stack) run(t *testing.T, cred *syscall.Credential, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "P11_KIT_SERVER_ADDRESS=unix:path="+s.p11sock, "TPMKEY_SOCKET="+s.Socket)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = s.Dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return r
}

// p11 runs pkcs11-tool on the client module and fails t unless it succeeds.
func (s *stack) p11(t *testing.T, args ...string) string {
	t.Helper()
	r := s.run(t, nil, nil, "pkcs11-tool", append([]string{"--module", clientModule}, args...)...)
	if r.code != 0 {
		t.Fatalf("pkcs11-tool %v = exit %d\n%s%s\ndaemon log:\n%s", args, r.code, r.stdout, r.stderr, s.Daemon.Log())
	}
	return r.stdout + r.stderr
}

// openssl runs openssl and fails t unless it succeeds.
func (s *stack) openssl(t *testing.T, args ...string) string {
	t.Helper()
	r := s.run(t, nil, nil, "openssl", args...)
	if r.code != 0 {
		t.Fatalf("openssl %v = exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout + r.stderr
}

// file writes b under the stack's directory and returns its path.
func (s *stack) file(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(s.Dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func pubPEM(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// ecdhPub is the key's public point, uncompressed.
func ecdhPub(k *client.Key) ([]byte, error) {
	pub, ok := k.PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, errors.New("not an EC key")
	}
	e, err := pub.ECDH()
	if err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}
