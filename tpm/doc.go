// Package tpm is tpmkeyd's only door to the TPM 2.0 chip (TPM 2.0 Library
// Specification, Parts 1–3): it opens a TPM, pins its SRK, creates and uses
// keys wrapped under that SRK, and serialises every command on one connection.
//
// Callers take turns at the TPM, shared fairly between owners (WithOwner),
// so that one owner's flood delays another's job by at most the job running
// now; a bounded queue per owner answers ErrBusy past its limit. A spec
// string becomes an Opener (ParseSpec), through which Open dials and every
// reconnection redials.
//
// Secrets cross the bus only inside an AES-128-CFB parameter-encrypted HMAC
// session salted to the pinned SRK; PINs are HMAC session auth, never
// plain-text passwords. A key without PIN or policy signs with a single
// TPM2_Sign and no session start.
//
// An HMACSHA256 key is a TPM-generated keyedhash object (HMAC-SHA256
// scheme, sign attribute, sensitiveDataOrigin); HMAC computes a tag inside
// the TPM, with TPM2_HMAC up to the TPM's input buffer and an HMAC sequence
// above it. The symmetric keys of docs/PROTOCOL.md build on it: each key
// version is an HMAC key, and its AES-256-GCM working key is derived inside
// the TPM as HMAC(k, label) for a fixed, versioned label, so that k itself
// never leaves the TPM and only the working key reaches the daemon.
// DeriveKey is that derivation: one TPM2_HMAC whose result comes back
// encrypted by the salted session, whereas HMAC returns its tag in the
// clear, since a MAC is not secret.
package tpm
