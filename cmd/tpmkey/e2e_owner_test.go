package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestSubordinateUIDsCountAgainstOwner is the reproduction of issue 9
// §3: an ordinary user with subordinate uids appears, through
// `unshare --map-auto --map-root-user`, as many uids. Each of them counts
// against that user's connection limit, and root still gets in.
func TestSubordinateUIDsCountAgainstOwner(t *testing.T) {
	swtpmtest.RequireRoot(t, "create a user with subordinate uids")
	for _, tool := range []string{"useradd", "userdel", "unshare", "setpriv", "newuidmap", "socat"} {
		swtpmtest.RequireTool(t, tool)
	}
	name := fmt.Sprintf("tpmk%d", os.Getpid()%100000)
	if out, err := exec.Command("useradd", "-M", "-s", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("userdel", name).Run() })
	if start := subUIDStart(t, name); start == 0 {
		t.Fatalf("useradd gave %s no range in /etc/subuid", name)
	}

	s, _, _ := startStack(t, "--config", writeConfig(t, "[limits]\nmax_connections_per_uid = 3\n"))
	asInner := func(ctx context.Context, inner int) *exec.Cmd {
		return exec.CommandContext(ctx, "setpriv", "--reuid="+name, "--regid="+name, "--clear-groups",
			"unshare", "--map-auto", "--map-root-user",
			"setpriv", "--reuid="+strconv.Itoa(inner), "--regid="+strconv.Itoa(inner), "--clear-groups",
			"socat", "-u", "UNIX-CONNECT:"+s.Socket, "-")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for inner := 1; inner <= 3; inner++ {
		cmd := asInner(ctx, inner)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cancel(); cmd.Wait() })
	}
	root := dial(t, s)
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := root.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Connections >= 4 { // three held, plus root's own
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connections = %d after 20 s, want the 3 held from the namespace\n%s", st.Connections, s.Daemon.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A fourth subordinate uid of the same user: BUSY, unasked, then closed.
	cmd := asInner(ctx, 4)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	payload, err := protocol.ReadFrame(bufio.NewReader(out), 1<<16)
	io.Copy(io.Discard, out)
	cmd.Wait()
	if err != nil {
		t.Fatalf("fourth connection: no frame (%v), want BUSY", err)
	}
	h, _, err := protocol.ParseResponse(payload)
	if err != nil || h.Status != protocol.StatusBusy {
		t.Errorf("fourth connection from the same owner = %v %v, want BUSY", h.Status, err)
	}
	if _, err := dial(t, s).Status(context.Background()); err != nil {
		t.Errorf("root's Status with the owner at its limit = %v, want OK", err)
	}
}

// subUIDStart returns the first subordinate uid of name in /etc/subuid.
func subUIDStart(t *testing.T, name string) uint64 {
	t.Helper()
	data, err := os.ReadFile("/etc/subuid")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Split(line, ":"); len(f) == 3 && f[0] == name {
			n, _ := strconv.ParseUint(f[1], 10, 32)
			return n
		}
	}
	return 0
}
