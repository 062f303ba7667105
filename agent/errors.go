package agent

import "errors"

// Sentinel errors of the agent. server.go maps each to its wire status.
var (
	ErrKeyNotFound         = errors.New("key not found")
	ErrKeyExists           = errors.New("key already exists")
	ErrKeyInvalidated      = errors.New("key record failed its integrity check")
	ErrInvalidAlias        = errors.New("invalid alias")
	ErrQuotaExceeded       = errors.New("key quota exceeded")
	ErrPermissionDenied    = errors.New("permission denied")
	ErrIncompatiblePurpose = errors.New("key purpose does not allow this operation")
	ErrRateLimited         = errors.New("rate limited")
	ErrBusy                = errors.New("too many connections or requests")
	ErrUnsafeStateDir      = errors.New("state directory is group- or world-writable")
	ErrAlreadyRunning      = errors.New("another tpmkeyd is using this socket or state directory")
	ErrInvalidConfig       = errors.New("invalid configuration")
)
