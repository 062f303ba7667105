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
package tpm
