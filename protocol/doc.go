// Package protocol is the tpmkeyd wire codec: length-prefixed frames with a
// fixed binary header and a CBOR (RFC 8949) body, one Go type per message,
// as specified normatively in docs/PROTOCOL.md.
package protocol
