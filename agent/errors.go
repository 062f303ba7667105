//go:build linux

package agent

import (
	"errors"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
)

// Sentinel errors of the daemon. The request path's are core's.
var (
	ErrUnsafeStateDir = errors.New("state directory is group- or world-writable")
	ErrAlreadyRunning = errors.New("another tpmkeyd is using this socket or state directory")
	// ErrUnsafeSocketDir: the socket's directory, or one above it, could
	// be changed by someone other than root or the daemon's own uid.
	ErrUnsafeSocketDir = errors.New("socket directory is not safe")
	ErrInvalidConfig   = core.ErrInvalidConfig
)
