package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/internal/syncbuf"
)

// serveEnv makes the test binary a fake agent instead of running tests:
// "activated" serves the socket passed with LISTEN_FDS, anything else is a
// path to bind. The trust tests start it as another uid.
const serveEnv = "TPMKEY_CLIENT_TEST_SERVE"

// ServeIfAsked runs the fake agent when serveEnv is set; TestMain calls it
// before anything else. It is exported only inside the test binary.
func ServeIfAsked() (code int, asked bool) {
	mode := os.Getenv(serveEnv)
	if mode == "" {
		return 0, false
	}
	var ln net.Listener
	var err error
	if mode == "activated" {
		var lns []net.Listener
		if lns, err = activation.Listeners(); err == nil && (len(lns) != 1 || lns[0] == nil) {
			err = fmt.Errorf("LISTEN_FDS passed %d listeners, want 1", len(lns))
		}
		if err == nil {
			ln = lns[0]
		}
	} else {
		ln, err = net.Listen("unix", mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake agent: %v\n", err)
		return 1, true
	}
	s := &fakeServer{ln: ln, handle: randomReply}
	s.wg.Add(1)
	s.accept() // until the test kills us
	return 0, true
}

// withServiceUID stands in for the lookup of ServiceUser, which the machine
// running the tests usually lacks.
func withServiceUID(uid uint32, err error) Option {
	return func(o *dialOptions) error {
		o.serviceUID = func() (uint32, error) { return uid, err }
		return nil
	}
}

// fakeAgentBinary copies this test binary where uid 65534 may run it.
func fakeAgentBinary(t *testing.T) (bin, dir string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "tpmkey-trust")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin = filepath.Join(dir, "fake-agent")
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin, dir
}

// startFakeAgent runs cmd (a fake agent) and waits until path answers.
func startFakeAgent(t *testing.T, cmd *exec.Cmd, path string) {
	t.Helper()
	var out syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v never listened on %s; output:\n%s", cmd.Args, path, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procUID is the real uid of pid, from /proc.
func procUID(t *testing.T, pid int32) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 1 && f[0] == "Uid:" {
			return f[1]
		}
	}
	t.Fatalf("/proc/%d/status has no Uid line", pid)
	return ""
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root to run a fake agent as uid 65534")
		}
		t.Skip("needs root to run a fake agent as uid 65534")
	}
}

// TestDialOwnUIDNeedsTrustSameUser: a server of the caller's own uid is not
// the system agent unless the caller says so.
func TestDialOwnUIDNeedsTrustSameUser(t *testing.T) {
	s := startFake(t, randomReply)
	c, err := Dial(context.Background(), s.path, withServiceUID(0, errors.New("no such user")))
	if err == nil {
		c.Close()
	}
	if own := os.Getuid() != 0; own && !errors.Is(err, ErrUntrustedServer) {
		t.Errorf("Dial(own-uid server) = %v, want ErrUntrustedServer", err)
	} else if !own && err != nil {
		t.Errorf("Dial(root's server) = %v, want nil", err)
	}
	c, err = Dial(context.Background(), s.path, WithTrustSameUser())
	if err != nil {
		t.Fatalf("Dial(own-uid server, WithTrustSameUser) = %v, want nil", err)
	}
	c.Close()
}

// TestDialTrust binds a socket as uid 65534 and checks whom Dial trusts
// with it: root and the service user by default, other uids only when
// named.
func TestDialTrust(t *testing.T) {
	requireRoot(t)
	bin, dir := fakeAgentBinary(t)
	path := filepath.Join(dir, "nobody.sock")
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), serveEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	startFakeAgent(t, cmd, path)

	noService := withServiceUID(0, errors.New("user: unknown user tpmkeyd"))
	tests := []struct {
		name    string
		opts    []Option
		trusted bool
	}{
		{"default-refuses-other-uid", []Option{noService}, false},
		{"service-user-trusted-by-default", []Option{withServiceUID(65534, nil)}, true},
		{"service-user-of-other-uid", []Option{withServiceUID(998, nil)}, false},
		{"with-server-user", []Option{noService, WithServerUser("nobody")}, true},
		{"with-server-uid", []Option{noService, WithServerUID(65534)}, true},
		{"with-server-uid-of-other-uid", []Option{noService, WithServerUID(65533)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Dial(context.Background(), path, tt.opts...)
			if !tt.trusted {
				if !errors.Is(err, ErrUntrustedServer) {
					t.Errorf("Dial = %v, want ErrUntrustedServer", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial = %v, want nil", err)
			}
			defer c.Close()
			if got := c.ServerInfo().UID; got != 65534 {
				t.Errorf("ServerInfo().UID = %d, want 65534", got)
			}
		})
	}
}

// TestDialUnderSocketActivation pins down what the check proves under
// socket activation: systemd-socket-activate (root) sets the socket
// listening and execs a server that drops to uid 65534. Dial sees uid 0,
// the listener's uid, and trusts it by default, although the process that
// answers runs as 65534: the check vouches for whoever made the socket.
func TestDialUnderSocketActivation(t *testing.T) {
	requireRoot(t)
	swtpmtest.RequireTool(t, "systemd-socket-activate")
	swtpmtest.RequireTool(t, "setpriv")
	bin, dir := fakeAgentBinary(t)
	path := filepath.Join(dir, "activated.sock")
	cmd := exec.Command("systemd-socket-activate", "-l", path, "-E", serveEnv+"=activated",
		"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin)
	startFakeAgent(t, cmd, path)

	c, err := Dial(context.Background(), path, withServiceUID(0, errors.New("user: unknown user tpmkeyd")))
	if err != nil {
		t.Fatalf("Dial(activated socket) = %v, want nil", err)
	}
	defer c.Close()
	if _, err := c.Random(context.Background(), 4); err != nil {
		t.Fatalf("Random = %v; the server behind the activated socket does not answer", err)
	}
	info := c.ServerInfo()
	if info.UID != 0 {
		t.Errorf("ServerInfo().UID = %d, want 0 (systemd-socket-activate's, at listen)", info.UID)
	}
	// systemd-socket-activate and setpriv exec, so the listener's pid is
	// the serving process, which by now runs as 65534.
	if info.PID != int32(cmd.Process.Pid) {
		t.Errorf("ServerInfo().PID = %d, want %d (the process that called listen)", info.PID, cmd.Process.Pid)
	}
	if got := procUID(t, info.PID); got != "65534" {
		t.Errorf("uid of the serving process %d = %s, want 65534", info.PID, got)
	}
}
