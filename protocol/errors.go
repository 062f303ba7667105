package protocol

import (
	"errors"
	"fmt"
)

// Error is a non-OK status with its message for a person. It is what a peer
// receives on the wire (the status in the response header, the message in
// ErrorBody). errors.Is(err, ErrKeyNotFound) and the other status sentinels
// match an *Error by its status.
type Error struct {
	Status  Status
	Message string

	// cause is a codec sentinel that refines the status (ErrShortFrame,
	// ErrEmptyFrame); it never travels on the wire.
	cause error
}

// Error returns "STATUS_NAME: message", the form the CLI prints.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Message
}

// Is reports whether target is the status sentinel for e.Status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*sentinel)
	return ok && t.parent == nil && t.status == e.Status
}

// Unwrap returns the codec sentinel behind e, if any.
func (e *Error) Unwrap() error { return e.cause }

// Errorf builds an *Error.
func Errorf(s Status, format string, args ...any) *Error {
	return &Error{Status: s, Message: fmt.Sprintf(format, args...)}
}

// sentinel is the type of the package's sentinel errors. A status sentinel
// has no parent; a codec sentinel refines the status sentinel it wraps.
type sentinel struct {
	status Status
	text   string
	parent error
}

func (s *sentinel) Error() string { return s.text }
func (s *sentinel) Unwrap() error { return s.parent }

// One sentinel per status. The numbers behind them are in status.go.
var (
	ErrBadRequest           error = &sentinel{status: StatusBadRequest, text: "protocol: bad request"}
	ErrUnknownOp            error = &sentinel{status: StatusUnknownOp, text: "protocol: unknown operation"}
	ErrUnsupportedVersion   error = &sentinel{status: StatusUnsupportedVersion, text: "protocol: unsupported version"}
	ErrFrameTooLarge        error = &sentinel{status: StatusFrameTooLarge, text: "protocol: frame too large"}
	ErrPermissionDenied     error = &sentinel{status: StatusPermissionDenied, text: "protocol: permission denied"}
	ErrKeyNotFound          error = &sentinel{status: StatusKeyNotFound, text: "protocol: key not found"}
	ErrKeyExists            error = &sentinel{status: StatusKeyExists, text: "protocol: key exists"}
	ErrInvalidAlias         error = &sentinel{status: StatusInvalidAlias, text: "protocol: invalid alias"}
	ErrUnsupportedAlgorithm error = &sentinel{status: StatusUnsupportedAlgorithm, text: "protocol: unsupported algorithm"}
	ErrIncompatiblePurpose  error = &sentinel{status: StatusIncompatiblePurpose, text: "protocol: incompatible purpose"}
	ErrWrongPIN             error = &sentinel{status: StatusWrongPIN, text: "protocol: wrong PIN"}
	ErrLockedOut            error = &sentinel{status: StatusLockedOut, text: "protocol: locked out"}
	ErrPolicyMismatch       error = &sentinel{status: StatusPolicyMismatch, text: "protocol: policy mismatch"}
	ErrKeyInvalidated       error = &sentinel{status: StatusKeyInvalidated, text: "protocol: key invalidated"}
	ErrTPMChanged           error = &sentinel{status: StatusTPMChanged, text: "protocol: TPM changed"}
	ErrTPMUnavailable       error = &sentinel{status: StatusTPMUnavailable, text: "protocol: TPM unavailable"}
	ErrTPMError             error = &sentinel{status: StatusTPMError, text: "protocol: TPM error"}
	ErrRateLimited          error = &sentinel{status: StatusRateLimited, text: "protocol: rate limited"}
	ErrQuotaExceeded        error = &sentinel{status: StatusQuotaExceeded, text: "protocol: quota exceeded"}
	ErrBusy                 error = &sentinel{status: StatusBusy, text: "protocol: busy"}
	ErrInternal             error = &sentinel{status: StatusInternal, text: "protocol: internal error"}
	ErrDecryptFailed        error = &sentinel{status: StatusDecryptFailed, text: "protocol: decryption failed"}
	ErrKeyVersionDisabled   error = &sentinel{status: StatusKeyVersionDisabled, text: "protocol: key version disabled"}
	ErrNotExportable        error = &sentinel{status: StatusNotExportable, text: "protocol: not exportable"}
	ErrImportFailed         error = &sentinel{status: StatusImportFailed, text: "protocol: import failed"}
)

// Codec sentinels: finer causes of BAD_REQUEST. errors.Is(err, ErrBadRequest)
// holds for them too.
var (
	ErrEmptyFrame error = &sentinel{status: StatusBadRequest, text: "protocol: zero-length frame", parent: ErrBadRequest}
	ErrShortFrame error = &sentinel{status: StatusBadRequest, text: "protocol: frame shorter than its header", parent: ErrBadRequest}
)

// SentinelFor returns the sentinel error of s, or nil for StatusOK and for
// numbers this version does not know.
func SentinelFor(s Status) error {
	switch s {
	case StatusBadRequest:
		return ErrBadRequest
	case StatusUnknownOp:
		return ErrUnknownOp
	case StatusUnsupportedVersion:
		return ErrUnsupportedVersion
	case StatusFrameTooLarge:
		return ErrFrameTooLarge
	case StatusPermissionDenied:
		return ErrPermissionDenied
	case StatusKeyNotFound:
		return ErrKeyNotFound
	case StatusKeyExists:
		return ErrKeyExists
	case StatusInvalidAlias:
		return ErrInvalidAlias
	case StatusUnsupportedAlgorithm:
		return ErrUnsupportedAlgorithm
	case StatusIncompatiblePurpose:
		return ErrIncompatiblePurpose
	case StatusWrongPIN:
		return ErrWrongPIN
	case StatusLockedOut:
		return ErrLockedOut
	case StatusPolicyMismatch:
		return ErrPolicyMismatch
	case StatusKeyInvalidated:
		return ErrKeyInvalidated
	case StatusTPMChanged:
		return ErrTPMChanged
	case StatusTPMUnavailable:
		return ErrTPMUnavailable
	case StatusTPMError:
		return ErrTPMError
	case StatusRateLimited:
		return ErrRateLimited
	case StatusQuotaExceeded:
		return ErrQuotaExceeded
	case StatusBusy:
		return ErrBusy
	case StatusInternal:
		return ErrInternal
	case StatusDecryptFailed:
		return ErrDecryptFailed
	case StatusKeyVersionDisabled:
		return ErrKeyVersionDisabled
	case StatusNotExportable:
		return ErrNotExportable
	case StatusImportFailed:
		return ErrImportFailed
	}
	return nil
}

// StatusOf maps an error to its status: nil is StatusOK, an *Error gives its
// own, a (wrapped) sentinel of this package gives its status, anything else
// StatusInternal.
func StatusOf(err error) Status {
	if err == nil {
		return StatusOK
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	if s, ok := errors.AsType[*sentinel](err); ok {
		return s.status
	}
	return StatusInternal
}

// ErrorFor turns err into what a server sends: the *Error in err's chain if
// there is one; for a wrapped sentinel, its status with err's full text as
// the message (so never wrap a secret into such an error); for anything else
// INTERNAL with a fixed message, since the details belong in the log only.
// ErrorFor(nil) is nil.
func ErrorFor(err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e
	}
	if s, ok := errors.AsType[*sentinel](err); ok {
		return &Error{Status: s.status, Message: err.Error()}
	}
	return &Error{Status: StatusInternal, Message: "internal error"}
}
