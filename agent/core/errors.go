package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Sentinel errors of the core. statusTable below maps each to its wire
// status. The store's failures are the store's own sentinels under the
// names the core has always used, so that one failure has one sentinel.
var (
	// ErrDecryptFailed is every failure to open a ciphertext: a wrong
	// context, a tampered or truncated ciphertext. It says nothing more.
	ErrDecryptFailed = errors.New("decryption failed")
	// ErrKeyVersionDisabled: the ciphertext's key version is disabled or
	// below the key's min_decryption_version.
	ErrKeyVersionDisabled  = errors.New("key version disabled")
	ErrKeyNotFound         = store.ErrKeyNotFound
	ErrKeyExists           = store.ErrKeyExists
	ErrKeyInvalidated      = store.ErrKeyInvalidated
	ErrUnsupportedRecord   = store.ErrUnsupportedRecord // a kind of ErrKeyInvalidated
	ErrInvalidAlias        = store.ErrInvalidAlias
	ErrQuotaExceeded       = store.ErrQuotaExceeded
	ErrInvalidCursor       = store.ErrInvalidCursor
	ErrPermissionDenied    = errors.New("permission denied")
	ErrIncompatiblePurpose = errors.New("key purpose does not allow this operation")
	ErrRateLimited         = errors.New("rate limited")
	ErrBusy                = errors.New("too many connections or requests")
	ErrPINLockedOut        = errors.New("too many wrong PINs")
	ErrInvalidConfig       = errors.New("invalid configuration")
	ErrAgentLocked         = errors.New("the ssh agent is locked for this uid (ssh-add -X unlocks it)")
	ErrSSHNotMarked        = errors.New("key is not marked for ssh (tpmkey ssh enable)")
	ErrSSHExpired          = errors.New("the key's ssh marking has expired")
	ErrSSHPINLocked        = errors.New("key has a PIN and is not unlocked for ssh (tpmkey ssh unlock)")
	ErrSSHSHA1             = errors.New("ssh-rsa signatures (SHA-1) are refused (ssh_allow_sha1); use rsa-sha2-256 or rsa-sha2-512")
	ErrSSHDestination      = errors.New("the key's destination constraints (ssh-add -h) do not permit this use")
	ErrSSHNoAskpass        = errors.New("ssh-add -c needs a confirmation program (ssh_askpass in the daemon's configuration); add the key without -c")
	ErrSSHNotConfirmed     = errors.New("the use of the key was not confirmed (ssh-add -c)")
	ErrSignSHA1            = errors.New("SHA-1 signatures are refused (pkcs11_allow_sha1); sign a SHA-256, -384 or -512 digest")
)

// tpmErr marks an error from the TPM layer, so that an unrecognised one
// maps to TPM_ERROR rather than INTERNAL.
// The TPM layer already names the call ("tpm.Sign: ..."), so the message
// does not repeat it.
func tpmErr(err error) error {
	return fmt.Errorf("%w: %w", errTPM, err)
}

// statusOf is the one place an error becomes a wire status and the short
// message the peer sees. Details stay in the log.
func (c *Core) statusOf(call *Call, err error) (protocol.Status, string) {
	st, msg := ErrorStatus(err)
	if ok, _ := c.failLog.allow(call.caller.Owner); !ok {
		return st, msg
	}
	switch st {
	case protocol.StatusInternal, protocol.StatusTPMError, protocol.StatusTPMUnavailable,
		protocol.StatusKeyInvalidated, protocol.StatusTPMChanged:
		c.log.Warn("request failed", "op", call.Op.String(), "uid", call.caller.UID, "alias", call.alias,
			"status", st.String(), "err", err)
	default:
		c.log.Debug("request refused", "op", call.Op.String(), "uid", call.caller.UID, "alias", call.alias,
			"status", st.String(), "err", err)
	}
	return st, msg
}

// statusTable is the one mapping from a sentinel error to its wire
// status; the first match wins. An error that matches none is INTERNAL.
var statusTable = []struct {
	sentinel error
	status   protocol.Status
}{
	{ErrKeyNotFound, protocol.StatusKeyNotFound},
	{ErrKeyExists, protocol.StatusKeyExists},
	{ErrUnsupportedRecord, protocol.StatusKeyInvalidated}, // before ErrKeyInvalidated: its own message
	{ErrKeyInvalidated, protocol.StatusKeyInvalidated},
	{ErrInvalidAlias, protocol.StatusInvalidAlias},
	{ErrQuotaExceeded, protocol.StatusQuotaExceeded},
	{ErrInvalidCursor, protocol.StatusBadRequest},
	{ErrPermissionDenied, protocol.StatusPermissionDenied},
	{ErrIncompatiblePurpose, protocol.StatusIncompatiblePurpose},
	{ErrRateLimited, protocol.StatusRateLimited},
	{ErrBusy, protocol.StatusBusy},
	{tpm.ErrBusy, protocol.StatusBusy},
	{tpm.ErrAuthFail, protocol.StatusWrongPIN},
	{tpm.ErrLockout, protocol.StatusLockedOut},
	{ErrPINLockedOut, protocol.StatusLockedOut},
	{tpm.ErrPolicyMismatch, protocol.StatusPolicyMismatch},
	{tpm.ErrTPMChanged, protocol.StatusTPMChanged},
	{tpm.ErrUnavailable, protocol.StatusTPMUnavailable},
	{tpm.ErrClosed, protocol.StatusTPMUnavailable},
	{tpm.ErrUnsupported, protocol.StatusUnsupportedAlgorithm},
	{tpm.ErrPurpose, protocol.StatusIncompatiblePurpose},
	{tpm.ErrInvalid, protocol.StatusBadRequest},
	{tpm.ErrImport, protocol.StatusImportFailed}, // before ErrBadBlob: a refused import is no damaged record
	{tpm.ErrBadBlob, protocol.StatusKeyInvalidated},
	{tpm.ErrNotExportable, protocol.StatusNotExportable},
	{ErrAgentLocked, protocol.StatusPermissionDenied},
	{ErrSSHNotMarked, protocol.StatusIncompatiblePurpose},
	{ErrSSHExpired, protocol.StatusPermissionDenied},
	{ErrSSHPINLocked, protocol.StatusPermissionDenied},
	{ErrSSHSHA1, protocol.StatusUnsupportedAlgorithm},
	{ErrSSHDestination, protocol.StatusPermissionDenied},
	{ErrSSHNoAskpass, protocol.StatusPermissionDenied},
	{ErrSSHNotConfirmed, protocol.StatusPermissionDenied},
	{ErrSignSHA1, protocol.StatusUnsupportedAlgorithm},
	{context.Canceled, protocol.StatusTPMUnavailable},
	{context.DeadlineExceeded, protocol.StatusTPMUnavailable},
	{errTPM, protocol.StatusTPMError},
	{ErrDecryptFailed, protocol.StatusDecryptFailed},
	{ErrKeyVersionDisabled, protocol.StatusKeyVersionDisabled},
}

// ErrorStatus returns the status and the peer's message for err: a
// *protocol.Error as it is, a sentinel by statusTable.
func ErrorStatus(err error) (protocol.Status, string) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Status, pe.Message
	}
	for _, m := range statusTable {
		if errors.Is(err, m.sentinel) {
			return m.status, m.sentinel.Error()
		}
	}
	return protocol.StatusInternal, "internal error"
}
