package keyfile

import "errors"

// Sentinel errors; every error of Parse wraps one.
var (
	// ErrMalformed: not a private key in any format this package reads.
	ErrMalformed = errors.New("keyfile: not a PKCS#8, SEC1 or PKCS#1 private key")
	// ErrUnsupported: a well-formed key of a kind tpmkeyd cannot hold
	// (P-521, secp256k1, RSA-1024, Ed25519, an unusual RSA exponent).
	ErrUnsupported = errors.New("keyfile: unsupported key type")
	// ErrMismatch: the key's public part does not belong to its private part.
	ErrMismatch = errors.New("keyfile: public key does not match private key")
	// ErrEncrypted: the key is encrypted and no passphrase was given.
	ErrEncrypted = errors.New("keyfile: key is encrypted; a passphrase is needed")
	// ErrPassphrase: the passphrase does not decrypt the key.
	ErrPassphrase = errors.New("keyfile: wrong passphrase")
)
