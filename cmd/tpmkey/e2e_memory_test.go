package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// TestPINNotLeftInDaemonMemory reads the running daemon's whole writable
// memory (/proc/PID/mem, as root) after a key was made and used with a PIN
// many times, and finds the PIN nowhere: the frame, the read buffer, the
// decoded request and the derived auth value are all wiped after use.
// docs/SECURITY.md lists what is and is not wiped.
func TestPINNotLeftInDaemonMemory(t *testing.T) {
	swtpmtest.RequireRoot(t, "read another process's memory")
	s, _, _ := startStack(t)
	c := dial(t, s)
	ctx := context.Background()
	pin := []byte("pin-6b1d0e9f-not-in-memory")
	if _, err := c.GenerateKey(ctx, "k", client.AlgECP256, client.WithPIN(pin)); err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256([]byte("m"))
	for range 50 {
		if _, err := c.Sign(ctx, "k", crypto.SHA256, d[:], client.WithPIN(pin)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Sign(ctx, "k", crypto.SHA256, d[:], client.WithPIN([]byte("a-wrong-pin"))); err == nil {
		t.Fatal("Sign with a wrong PIN = nil error")
	}
	found, scanned := scanMemory(t, s.Daemon.PID(), pin)
	if scanned == 0 {
		t.Fatal("read no memory of the daemon")
	}
	if found > 0 {
		t.Errorf("the PIN is in the daemon's memory %d times (%d bytes scanned)", found, scanned)
	}
	// The scan works: the daemon's own socket path is in its memory.
	if n, _ := scanMemory(t, s.Daemon.PID(), []byte(s.Socket)); n == 0 {
		t.Errorf("control: the socket path was not found in the daemon's memory; the scan sees nothing")
	}
}

// scanMemory counts needle in pid's readable, writable mappings.
func scanMemory(t *testing.T, pid int, needle []byte) (found int, scanned int64) {
	t.Helper()
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer maps.Close()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[1], "rw") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, _ := strconv.ParseUint(lo, 16, 64)
		end, _ := strconv.ParseUint(hi, 16, 64)
		if end-start > 1<<30 {
			continue
		}
		buf := make([]byte, end-start)
		n, _ := mem.ReadAt(buf, int64(start))
		scanned += int64(n)
		found += bytes.Count(buf[:n], needle)
		if i := bytes.Index(buf[:n], needle); i >= 0 && os.Getenv("MEMDEBUG") != "" {
			t.Logf("at %x (%s): %q", start+uint64(i), sc.Text(), buf[max(0, i-96):min(n, i+64)])
		}
	}
	return found, scanned
}
