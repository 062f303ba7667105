package wrap

import "errors"

// Sentinel errors.
var (
	// ErrUnsupported: a key or parent this package cannot wrap.
	ErrUnsupported = errors.New("wrap: unsupported key or parent")
	// ErrMalformed: a wrapped blob or parent public area that does not decode.
	ErrMalformed = errors.New("wrap: malformed input")
)
