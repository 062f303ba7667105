package store

import "errors"

// Sentinel errors of the store. The daemon maps each to one wire status
// (agent/dispatch.go); their texts are what a peer sees, so they name the
// failure and nothing else.
var (
	ErrKeyNotFound    = errors.New("key not found")
	ErrKeyExists      = errors.New("key already exists")
	ErrKeyInvalidated = errors.New("key record failed its integrity check")
	ErrInvalidAlias   = errors.New("invalid alias")
	ErrQuotaExceeded  = errors.New("key quota exceeded")
	ErrInvalidCursor  = errors.New("invalid list cursor") // a List cursor this store did not hand out
)

// Causes that stay in the log: a refused record answers ErrKeyInvalidated.
var (
	errRecordMAC     = errors.New("MAC mismatch")
	errFileTooLarge  = errors.New("file too large")
	errNotRegular    = errors.New("not a regular file")
	errSecretMarshal = errors.New("store: refusing to marshal a secret")
)
