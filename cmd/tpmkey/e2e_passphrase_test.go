//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// openPTY returns a new pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no /dev/ptmx under CI=true: %v", err)
		}
		t.Skipf("no /dev/ptmx: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// TestImportPassphrasePrompt: without --passphrase-file, `tpmkey import`
// of an encrypted key asks on its terminal (/dev/tty), with echo off, and
// imports the key with what was typed there.
func TestImportPassphrasePrompt(t *testing.T) {
	s, _, b := startStack(t)
	dir := t.TempDir()
	enc := filepath.Join(dir, "enc.pem")
	opensslRun(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:typed secret", "-out", enc)
	master, slave := openPTY(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.tpmkey, "import", "prompted", "--in", enc)
	cmd.Env = append(os.Environ(), client.SocketEnv+"="+s.Socket)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	r := bufio.NewReader(master)
	var seen strings.Builder
	for !strings.Contains(seen.String(), "Passphrase for ") {
		c, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading the terminal: %v (so far %q)", err, seen.String())
		}
		seen.WriteByte(c)
	}
	// Type only once the prompt has turned echo off (the master reads the
	// terminal's settings).
	for deadline := time.Now().Add(30 * time.Second); ; {
		tio, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatalf("TCGETS: %v", err)
		}
		if tio.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prompt never turned echo off")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Fprint(master, "typed secret\r")
	rest := make(chan string)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				rest <- b.String()
				return
			}
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	master.Close()
	out := <-rest
	if err != nil {
		t.Fatalf("tpmkey import with a typed passphrase = %v, terminal:\n%s%s", err, seen.String(), out)
	}
	if strings.Contains(out, "typed secret") {
		t.Errorf("the passphrase was echoed: %q", out)
	}
	if k, err := dial(t, s).Key(context.Background(), "prompted"); err != nil || k.Origin != "imported" {
		t.Fatalf("Key(prompted) = %+v, %v; want an imported key", k, err)
	}
}
