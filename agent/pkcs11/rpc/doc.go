// Package rpc is the wire codec of p11-kit's RPC protocol, the protocol
// that p11-kit-client.so speaks to `p11-kit server` (p11-kit's
// p11-kit/rpc-message.h, rpc-message.c, rpc-transport.c; docs/PKCS11.md
// §2 describes it as this package implements it). It knows the framing,
// the version byte, the call table with its signature strings and the
// encodings of values, attribute arrays and mechanisms; it knows nothing
// of tokens or of the daemon, and imports nothing of ours.
//
// Every length read from the wire is checked against the bytes that are
// actually there (or a stated limit) before anything is allocated.
package rpc
