package agent

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Caller is the identity of a connection's peer, taken from the kernel
// (SO_PEERCRED) when the connection is accepted. It never changes.
type Caller struct {
	UID    uint32
	GID    uint32
	PID    int32
	Comm   string   // from /proc/PID/comm; "" when unreadable
	Groups []uint32 // primary and supplementary gids, from /proc/PID/status
}

// peerCredentials reads the peer's uid, gid and pid from the socket, then
// its command name and groups from /proc, once per connection.
func peerCredentials(c *net.UnixConn) (Caller, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Caller{}, fmt.Errorf("SyscallConn: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Caller{}, fmt.Errorf("SyscallConn.Control: %w", err)
	}
	if credErr != nil {
		return Caller{}, fmt.Errorf("getsockopt SO_PEERCRED: %w", credErr)
	}
	caller := Caller{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}
	caller.Comm = readComm(cred.Pid)
	caller.Groups = readGroups(cred.Pid, cred.Gid)
	return caller, nil
}

// readComm returns the process's command name, or "" if it is gone.
func readComm(pid int32) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/comm")
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(b, "\n"))
}

// readGroups returns gid plus the supplementary groups of pid. When /proc
// cannot be read, the primary gid alone is returned: a missing group can
// only deny access, never grant it.
func readGroups(pid int32, gid uint32) []uint32 {
	groups := []uint32{gid}
	if pid <= 0 {
		return groups
	}
	supp, err := ProcessGroups(pid)
	if err != nil {
		return groups
	}
	for _, g := range supp {
		if g != gid {
			groups = append(groups, g)
		}
	}
	return groups
}
