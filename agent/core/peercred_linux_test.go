//go:build linux

package core

import (
	"fmt"
	"os"
	"slices"
	"syscall"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"golang.org/x/sys/unix"
)

// TestCredentialsCapturedAtConnect: the groups of a connection are those
// its peer had when the socket was made, whatever the process holds
// later (the reproduction: a reused pid's live groups granted admin).
func TestCredentialsCapturedAtConnect(t *testing.T) {
	swtpmtest.RequireRoot(t, "change the process's groups")
	orig, err := syscall.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setgroups(orig) })
	if err := syscall.Setgroups([]int{}); err != nil {
		t.Fatal(err)
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	const later = 4242
	if err := syscall.Setgroups([]int{later}); err != nil {
		t.Fatal(err)
	}
	c, err := credentialsOf(fds[0])
	if err != nil {
		t.Fatalf("credentialsOf = %v", err)
	}
	if slices.Contains(c.Groups, later) {
		t.Errorf("credentialsOf().Groups = %v, want no %d (added after connect)", c.Groups, later)
	}
	if c.UID != 0 || c.PID != int32(os.Getpid()) {
		t.Errorf("credentialsOf() = uid %d pid %d, want 0 and %d", c.UID, c.PID, os.Getpid())
	}
	var uts unix.Utsname
	unix.Uname(&uts)
	if newKernel(unix.ByteSliceToString(uts.Release[:])) && (!c.CommVerified || c.Comm == "") {
		t.Errorf("credentialsOf() comm = %q verified %v, want ours verified through SO_PEERPIDFD", c.Comm, c.CommVerified)
	}
}

// newKernel reports a release of Linux 6.5 or later (SO_PEERPIDFD).
func newKernel(release string) bool {
	var major, minor int
	fmt.Sscanf(release, "%d.%d", &major, &minor)
	return major > 6 || major == 6 && minor >= 5
}
