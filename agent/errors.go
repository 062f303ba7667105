package agent

import (
	"errors"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
)

// Sentinel errors of the daemon. The request path's are core's.
var (
	ErrUnsafeStateDir = errors.New("state directory is group- or world-writable")
	ErrAlreadyRunning = errors.New("another tpmkeyd is using this socket or state directory")
	ErrInvalidConfig  = core.ErrInvalidConfig
)
