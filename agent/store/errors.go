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

	// ErrInvalidRecord is a record Create or Update refuses to write: a
	// symmetric key whose versions break the rules of docs/STORE.md, or
	// versions on another kind. Read from disk, such a record is
	// ErrKeyInvalidated instead.
	ErrInvalidRecord = errors.New("invalid key record")

	// ErrKeyIDMismatch is an Update whose key id is not the one stored
	// under the alias: the key the caller meant was deleted and another
	// made in its place. It is a kind of ErrKeyNotFound, which is what the
	// caller's key now is.
	ErrKeyIDMismatch error = &refinedError{"key under this alias has another key id", ErrKeyNotFound}

	// ErrUnsupportedRecord is a record of a format version or kind newer
	// than this build knows (written by a later tpmkeyd, or damaged): kept,
	// not used. It is a kind of ErrKeyInvalidated: errors.Is(err,
	// ErrKeyInvalidated) holds for it, so every caller that refuses an
	// invalid record refuses this one too.
	ErrUnsupportedRecord error = &refinedError{"key record has a format this tpmkeyd does not know", ErrKeyInvalidated}

	// ErrUnsafePath is a symlink or special file where the store expects
	// its own directory or record (keys/<uid> → keys/0): refused, never
	// followed. It is a kind of ErrKeyInvalidated, as ErrUnsupportedRecord is.
	ErrUnsafePath error = &refinedError{"key store path is a symlink or special file", ErrKeyInvalidated}

	// ErrIntegrityKeyMissing is integrity.key gone while records exist: a
	// new key would invalidate them all, so the store does not open.
	ErrIntegrityKeyMissing = errors.New("integrity key missing while key records exist")
)

// Causes that stay in the log: a refused record answers ErrKeyInvalidated.
var (
	errRecordMAC     = errors.New("MAC mismatch")
	errV1Symmetric   = errors.New("record version 1 holding a symmetric key") // version 1 predates them
	errFileTooLarge  = errors.New("file too large")
	errNotRegular    = errors.New("not a regular file")
	errSecretMarshal = errors.New("store: refusing to marshal a secret")
)

// refinedError is a sentinel that is also a kind of a broader one.
// ErrCertificateNotFound is a key without a stored certificate (cert.go);
// a kind of ErrKeyNotFound.
var ErrCertificateNotFound error = &refinedError{"no certificate stored for this key", ErrKeyNotFound}

type refinedError struct {
	text   string
	parent error
}

func (e *refinedError) Error() string        { return e.text }
func (e *refinedError) Is(target error) bool { return target == e.parent }
