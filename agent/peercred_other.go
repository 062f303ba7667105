//go:build !linux

package agent

import (
	"errors"
	"net"
)

// peerCredentials needs Linux's SO_PEERCRED; elsewhere every connection
// is refused.
func peerCredentials(*net.UnixConn) (Caller, error) {
	return Caller{}, errors.New("peer credentials: tpmkeyd needs Linux (SO_PEERCRED)")
}
