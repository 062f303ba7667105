// Package client talks to tpmkeyd over its Unix socket, following the wire
// protocol in docs/PROTOCOL.md.
//
// A *Client holds one connection and is safe for concurrent use: calls from
// many goroutines are pipelined over that connection, each with its own
// request id, and their responses may arrive in any order. Every call takes
// a context.Context; a cancelled call returns ctx.Err() at once and its late
// response is dropped.
//
// Dial checks who is listening on the socket (SO_PEERCRED) before it sends
// anything: the server must run as root, or as a uid accepted with
// WithServerUID, WithServerUser or WithTrustSameUser; otherwise Dial returns
// ErrUntrustedServer. This stops another local user from posing as the agent
// on a socket path it managed to create.
//
// Errors from the server map one to one onto this package's sentinels, so
// errors.Is(err, client.ErrKeyNotFound) works; the error's text is the
// server's message. Signer and Decrypter adapt a TPM key to crypto.Signer
// and crypto.Decrypter for crypto/tls, crypto/x509 and friends.
package client
