// Package client talks to tpmkeyd over its Unix socket, following the wire
// protocol in docs/PROTOCOL.md.
//
// A *Client holds one connection and is safe for concurrent use: calls from
// many goroutines are pipelined over that connection, each with its own
// request id, and their responses may arrive in any order. Every call takes
// a context.Context; a cancelled call returns ctx.Err() at once and its late
// response is dropped.
//
// Dial checks who set the socket listening (SO_PEERCRED) before it sends
// anything: root, the packaged service user tpmkeyd (ServiceUser) where it
// exists, or a uid accepted with WithServerUID, WithServerUser or
// WithTrustSameUser; otherwise Dial returns ErrUntrustedServer. This stops
// another local user from posing as the agent on a socket path it managed
// to create. The kernel records those credentials at listen(2): when tpmkeyd
// binds its socket they are the daemon's, and under socket activation they
// are systemd's (root), so the check then proves that root set up the
// socket and chose the service behind it, not which uid that service runs
// as (docs/SECURITY.md, "A spoofed socket").
//
// Errors from the server map one to one onto this package's sentinels, so
// errors.Is(err, client.ErrKeyNotFound) works; the error's text is the
// server's message. Signer and Decrypter adapt a TPM key to crypto.Signer
// and crypto.Decrypter for crypto/tls, crypto/x509 and friends.
//
// EncryptStream and DecryptStream (and NewEncryptWriter, NewDecryptReader)
// encrypt data of any size with an aes-256-gcm key as a stream envelope
// (docs/FORMATS.md, package client/stream): one GenerateDataKey per
// stream, the segments sealed in the caller's process.
package client
