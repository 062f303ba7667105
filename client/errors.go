package client

import (
	"errors"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Errors of this package. A failed call returns one of these wrapped, or the
// server's *Error, which matches the status sentinels below.
var (
	// ErrUntrustedServer means the socket is served by a uid that is neither
	// root nor one the caller said to trust.
	ErrUntrustedServer = errors.New("client: untrusted server")
	// ErrConnectionClosed means the connection is gone: Close was called, or
	// it broke. Every pending and later call fails with it.
	ErrConnectionClosed = errors.New("client: connection closed")
	// ErrProtocol means the server sent something this client cannot read.
	ErrProtocol = errors.New("client: protocol error")
	// ErrUnsupported means a crypto option the agent cannot honour, such as
	// a PSS salt length other than the hash length or an OAEP label.
	ErrUnsupported = errors.New("client: unsupported option")
	// ErrOptionNotApplicable means a CallOption that the call does not take,
	// such as ForUID on Sign (which only ever uses the caller's own keys).
	ErrOptionNotApplicable = errors.New("client: option does not apply to this call")
)

// Status sentinels, one per wire status; they are protocol's, so
// errors.Is(err, client.ErrKeyNotFound) holds for the server's errors.
var (
	ErrBadRequest           = protocol.ErrBadRequest
	ErrUnknownOp            = protocol.ErrUnknownOp
	ErrUnsupportedVersion   = protocol.ErrUnsupportedVersion
	ErrFrameTooLarge        = protocol.ErrFrameTooLarge
	ErrPermissionDenied     = protocol.ErrPermissionDenied
	ErrKeyNotFound          = protocol.ErrKeyNotFound
	ErrKeyExists            = protocol.ErrKeyExists
	ErrInvalidAlias         = protocol.ErrInvalidAlias
	ErrUnsupportedAlgorithm = protocol.ErrUnsupportedAlgorithm
	ErrIncompatiblePurpose  = protocol.ErrIncompatiblePurpose
	ErrWrongPIN             = protocol.ErrWrongPIN
	ErrLockedOut            = protocol.ErrLockedOut
	ErrPolicyMismatch       = protocol.ErrPolicyMismatch
	ErrKeyInvalidated       = protocol.ErrKeyInvalidated
	ErrTPMChanged           = protocol.ErrTPMChanged
	ErrTPMUnavailable       = protocol.ErrTPMUnavailable
	ErrTPMError             = protocol.ErrTPMError
	ErrRateLimited          = protocol.ErrRateLimited
	ErrQuotaExceeded        = protocol.ErrQuotaExceeded
	ErrBusy                 = protocol.ErrBusy
	ErrInternal             = protocol.ErrInternal
	ErrDecryptFailed        = protocol.ErrDecryptFailed
	ErrKeyVersionDisabled   = protocol.ErrKeyVersionDisabled
	ErrNotExportable        = protocol.ErrNotExportable
	ErrImportFailed         = protocol.ErrImportFailed
)

// Error is the server's answer to a failed call: a status and a message.
type Error = protocol.Error
