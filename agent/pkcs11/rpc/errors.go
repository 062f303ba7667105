package rpc

import "errors"

// Sentinel errors of the codec. A decoding error wraps ErrMalformed; a
// frame over the limit wraps ErrTooLarge.
var (
	// ErrMalformed is a message that does not follow the protocol:
	// truncated, a signature that does not match the call, a length past
	// the end, trailing bytes.
	ErrMalformed = errors.New("malformed p11-kit RPC message")
	// ErrTooLarge is a frame whose declared size is over the limit.
	ErrTooLarge = errors.New("p11-kit RPC frame too large")
	// ErrUnknownCall is a call id this package has no signature for.
	ErrUnknownCall = errors.New("unknown p11-kit RPC call")
)
