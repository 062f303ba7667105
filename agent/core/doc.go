// Package core is tpmkeyd's transport-neutral keystore: given a caller the
// kernel identified (Caller, Core.Connect) and a typed request of
// docs/PROTOCOL.md (Call), Session.Do runs admission, the key lookup, the
// store, the TPM and the audit record, once, for every front end. Front
// ends (agent/native, later ssh-agent and PKCS#11) only translate.
//
// Adding an operation: an entry in protocol/ops.go, its request and
// response types in protocol/messages.go, one line in newOpTable
// (optable.go) and its handler (ops_*.go), golden vectors and docs.
package core
