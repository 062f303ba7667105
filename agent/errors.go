package agent

import (
	"errors"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
)

// Sentinel errors of the agent. dispatch.go maps each to its wire status.
// The store's failures are the store's own sentinels under their old names,
// so that one failure has one sentinel.
var (
	ErrKeyNotFound         = store.ErrKeyNotFound
	ErrKeyExists           = store.ErrKeyExists
	ErrKeyInvalidated      = store.ErrKeyInvalidated
	ErrUnsupportedRecord   = store.ErrUnsupportedRecord // a kind of ErrKeyInvalidated
	ErrInvalidAlias        = store.ErrInvalidAlias
	ErrQuotaExceeded       = store.ErrQuotaExceeded
	ErrInvalidCursor       = store.ErrInvalidCursor
	ErrPermissionDenied    = errors.New("permission denied")
	ErrIncompatiblePurpose = errors.New("key purpose does not allow this operation")
	ErrRateLimited         = errors.New("rate limited")
	ErrBusy                = errors.New("too many connections or requests")
	ErrPINLockedOut        = errors.New("too many wrong PINs")
	ErrUnsafeStateDir      = errors.New("state directory is group- or world-writable")
	ErrAlreadyRunning      = errors.New("another tpmkeyd is using this socket or state directory")
	ErrInvalidConfig       = errors.New("invalid configuration")
)
