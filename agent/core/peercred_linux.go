//go:build linux

package core

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// soPeerPidfd is SO_PEERPIDFD (Linux 6.5), which x/sys/unix may lack.
const soPeerPidfd = 77

// maxPeerGroups bounds the SO_PEERGROUPS buffer (NGROUPS_MAX is 65536).
const maxPeerGroups = 65536

// PeerCredentials captures the peer's identity from the socket, once per
// connection: uid, gid and pid (SO_PEERCRED) and groups (SO_PEERGROUPS),
// all as they were at connect(2); comm is read through a pidfd when the
// kernel gives one (SO_PEERPIDFD), so that it is known to be the peer's.
func PeerCredentials(c *net.UnixConn) (Caller, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Caller{}, fmt.Errorf("SyscallConn: %w", err)
	}
	var caller Caller
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		caller, credErr = credentialsOf(int(fd))
	}); err != nil {
		return Caller{}, fmt.Errorf("SyscallConn.Control: %w", err)
	}
	return caller, credErr
}

func credentialsOf(fd int) (Caller, error) {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Caller{}, fmt.Errorf("getsockopt SO_PEERCRED: %w", err)
	}
	caller := Caller{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}
	caller.Groups = peerGroups(fd, cred.Gid)
	comm, verified := peerComm(fd, cred.Pid)
	caller.Comm, caller.CommVerified = logValue(comm), verified
	return caller, nil
}

// peerGroups returns gid plus the peer's supplementary groups at connect
// time. When the kernel cannot say, gid alone is returned: a missing
// group can only deny access, never grant it.
func peerGroups(fd int, gid uint32) []uint32 {
	groups := []uint32{gid}
	buf := make([]byte, 4*64)
	for {
		n := uint32(len(buf))
		_, _, errno := syscall.Syscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
		if errno == unix.ERANGE && int(n) > len(buf) && int(n) <= 4*maxPeerGroups {
			buf = make([]byte, n)
			continue
		}
		if errno != 0 {
			return groups
		}
		for i := 0; i+4 <= int(n); i += 4 {
			if g := binary.NativeEndian.Uint32(buf[i:]); g != gid {
				groups = append(groups, g)
			}
		}
		return groups
	}
}

// peerComm reads the peer's command name. With a pidfd from SO_PEERPIDFD
// the name is verified: if the process is still alive after the read, the
// pid was not reused in between, so the name is the peer's.
func peerComm(fd int, pid int32) (string, bool) {
	if pid <= 0 {
		return "", false
	}
	pidfd, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, soPeerPidfd)
	if err != nil {
		return readComm(pid), false
	}
	defer unix.Close(pidfd)
	comm := readComm(pid)
	// Signal 0 only asks whether the process exists; EPERM (a daemon not
	// running as root probing another user's process) still says it does.
	if comm == "" || errors.Is(unix.PidfdSendSignal(pidfd, 0, nil, 0), unix.ESRCH) {
		return "", false // the peer is gone; whatever owns pid now is not it
	}
	return comm, true
}

// readComm returns the process's command name, or "" if it is gone.
func readComm(pid int32) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/comm")
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(b, "\n"))
}
