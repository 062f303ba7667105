package client

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// peerCred returns the uid and pid of the process that owns the other end of
// conn, from SO_PEERCRED (recorded by the kernel when the server listened).
func peerCred(conn *net.UnixConn) (uid uint32, pid int32, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, fmt.Errorf("SyscallConn: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	err = raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err == nil {
		err = credErr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("getsockopt SO_PEERCRED: %w", os.NewSyscallError("getsockopt", err))
	}
	return cred.Uid, cred.Pid, nil
}
