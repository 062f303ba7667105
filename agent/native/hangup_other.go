//go:build !linux

package native

import "net"

// peerHungUp cannot tell a hang-up from a half-close here.
func peerHungUp(*net.UnixConn) bool { return false }
