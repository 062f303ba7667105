// Package stream is the tpmkeyd streaming envelope format (docs/FORMATS.md,
// "Stream envelope"): a header that carries a wrapped data key, then
// AES-256-GCM segments of a fixed plaintext size, each bound to its index,
// to a last-segment flag and to the header, as in the STREAM construction
// and Tink's streaming AEAD.
//
// The package knows nothing of the daemon: it takes a plaintext data key
// and the daemon's wrapping of it (GenerateDataKey's two results), and
// gives back the wrapped key of a stream to be decrypted. The client
// package (EncryptStream, DecryptStream) joins the two halves. It imports
// only the standard library, so that another program can check streams
// without the client.
//
// A Reader releases the plaintext of a segment only after its tag has
// verified, but a segment can verify and still belong to a stream that an
// attacker truncated or extended: the stream as a whole is authentic only
// once Read has returned io.EOF. Whoever acts on the plaintext before that
// (the tpmkey CLI does not: it writes to a temporary file and renames it
// only at io.EOF) must be ready to undo it.
package stream
