// Package agent is the tpmkeyd daemon: it serves the wire protocol of
// docs/PROTOCOL.md on a Unix socket, identifies each caller by SO_PEERCRED,
// keeps each uid's keys in its own namespace, and does every private-key
// operation in the TPM (package tpm), with one audit record per request.
//
// The request path reads straight through the files:
// server.go (accept) → conn.go (frame) → dispatch.go (op) → access.go
// (namespace, purpose) → store → TPM (ops_*.go) → conn.go (response),
// with audit.go recording the outcome.
package agent
