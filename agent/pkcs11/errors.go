package pkcs11

import "errors"

// Sentinel errors of the front end.
var (
	// errStopping ends a connection because the server shuts down.
	errStopping = errors.New("pkcs11: server stopping")
	// errTooManyMalformed ends a connection that kept sending messages
	// that do not parse.
	errTooManyMalformed = errors.New("pkcs11: too many malformed messages in a row")
)
