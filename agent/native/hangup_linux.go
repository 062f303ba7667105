package native

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerHungUp reports whether the peer has closed its end entirely, not
// just its writing half: after shutdown(SHUT_WR) a peer still reads its
// answers, so only POLLHUP means nobody will.
func peerHungUp(nc *net.UnixConn) bool {
	raw, err := nc.SyscallConn()
	if err != nil {
		return false
	}
	hup := false
	raw.Control(func(fd uintptr) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if n, err := unix.Poll(fds, 0); err == nil && n > 0 {
			hup = fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return hup
}
