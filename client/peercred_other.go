//go:build !linux

package client

import (
	"fmt"
	"net"
)

// peerCred is only implemented on Linux; elsewhere no server is trusted.
func peerCred(*net.UnixConn) (uint32, int32, error) {
	return 0, 0, fmt.Errorf("%w: peer credentials are not supported on this platform", ErrUntrustedServer)
}
