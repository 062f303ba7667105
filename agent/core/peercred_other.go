//go:build !linux

package core

import (
	"errors"
	"net"
)

// PeerCredentials needs Linux's SO_PEERCRED; elsewhere every connection
// is refused.
func PeerCredentials(*net.UnixConn) (Caller, error) {
	return Caller{}, errors.New("peer credentials: tpmkeyd needs Linux (SO_PEERCRED)")
}
