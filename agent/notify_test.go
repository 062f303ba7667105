//go:build linux

package agent

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listenNotify binds a unixgram NOTIFY_SOCKET for the test, as systemd does.
func listenNotify(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return conn
}

func readNotify(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	// A hang guard: every send in these tests happens before the read.
	if err := conn.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("reading NOTIFY_SOCKET: %v", err)
	}
	return string(buf[:n])
}

func TestNotifierMessages(t *testing.T) {
	conn := listenNotify(t)
	n := NewNotifier()
	n.Ready("3 keys, 0 clients, TPM IBM SW 0x20191023")
	n.Status("3 keys, 1 client")
	n.Reloading()
	n.Ready("reloaded")
	n.Status("two\nlines")
	n.Stopping()

	for i, want := range []string{
		"READY=1\nSTATUS=3 keys, 0 clients, TPM IBM SW 0x20191023",
		"STATUS=3 keys, 1 client",
		"RELOADING=1\nMONOTONIC_USEC=",
		"READY=1\nSTATUS=reloaded",
		"STATUS=two lines",
		"STOPPING=1",
	} {
		got := readNotify(t, conn)
		if strings.HasSuffix(want, "=") {
			usec, ok := strings.CutPrefix(got, want)
			if _, err := strconv.ParseUint(usec, 10, 64); !ok || err != nil {
				t.Errorf("message %d = %q, want %q followed by a number", i, got, want)
			}
			continue
		}
		if got != want {
			t.Errorf("message %d = %q, want %q", i, got, want)
		}
	}
}

func TestNotifierWithoutSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := NewNotifier()
	n.Ready("x") // must neither panic nor block
	n.Stopping()
	t.Setenv("WATCHDOG_USEC", "")
	n.Watchdog(context.Background(), func(context.Context) error { return nil }) // returns at once
}

// TestNotifierWatchdog lets the check succeed twice, fail twice, then
// succeed once more, and expects exactly three pings: one per success.
func TestNotifierWatchdog(t *testing.T) {
	conn := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "20000") // a ping every 10 ms
	t.Setenv("WATCHDOG_PID", "")
	results := []error{nil, nil, errors.New("tpm hung"), errors.New("tpm hung"), nil}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	var deadlineSet atomic.Bool
	check := func(cctx context.Context) error {
		if _, ok := cctx.Deadline(); ok {
			deadlineSet.Store(true)
		}
		i := int(calls.Add(1)) - 1
		if i >= len(results) {
			cancel() // the sixth check ends the run; its ping is withheld
			return nil
		}
		return results[i]
	}
	done := make(chan struct{})
	go func() { NewNotifier().Watchdog(ctx, check); close(done) }()
	<-done

	if got := calls.Load(); got != int32(len(results)+1) {
		t.Errorf("check called %d times, want %d", got, len(results)+1)
	}
	if !deadlineSet.Load() {
		t.Errorf("check context has no deadline, want half the watchdog interval")
	}
	for i := range 3 {
		if got := readNotify(t, conn); got != "WATCHDOG=1" {
			t.Errorf("ping %d = %q, want WATCHDOG=1", i, got)
		}
	}
	// No fourth ping: the failures and the cancelled check sent nothing.
	if err := conn.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(make([]byte, 64)); err == nil {
		t.Errorf("read %d more bytes after three pings, want none", n)
	}
}
