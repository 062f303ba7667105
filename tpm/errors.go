package tpm

import (
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Sentinel errors. TPM-originated ones wrap the response code too, so
// errors.Is(err, tpm2.TPMRCAuthFail) keeps working.
var (
	ErrAuthFail       = errors.New("tpm: authorization failed (wrong PIN)")
	ErrLockout        = errors.New("tpm: dictionary-attack lockout")
	ErrPolicyMismatch = errors.New("tpm: policy not satisfied (PCRs changed)")
	ErrTPMChanged     = errors.New("tpm: SRK name changed (TPM cleared or replaced)")
	ErrUnsupported    = errors.New("tpm: algorithm or operation not supported")
	ErrUnavailable    = errors.New("tpm: TPM unavailable")
	ErrPurpose        = errors.New("tpm: key purpose does not allow this operation")
	ErrBadBlob        = errors.New("tpm: malformed key blob")
	ErrClosed         = errors.New("tpm: closed")
	ErrInvalid        = errors.New("tpm: invalid argument")
	ErrBusy           = errors.New("tpm: too many TPM jobs queued for this owner")
	// ErrTPMFailure is a TPM in failure mode (Part 1 §12.3): it answers
	// nothing but GetTestResult and GetCapability until it is reset.
	ErrTPMFailure = errors.New("tpm: TPM in failure mode")
)

// errTransport marks an error of the connection, not of the TPM.
var errTransport = errors.New("tpm: transport failed")

// classify wraps err from the TPM command op in the matching sentinel.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case errors.Is(err, errTransport):
		sentinel = ErrUnavailable
	case errors.Is(err, tpm2.TPMRCAuthFail), errors.Is(err, tpm2.TPMRCBadAuth):
		sentinel = ErrAuthFail
	case errors.Is(err, tpm2.TPMRCLockout):
		sentinel = ErrLockout
	case errors.Is(err, tpm2.TPMRCPolicyFail), errors.Is(err, tpm2.TPMRCPCRChanged):
		sentinel = ErrPolicyMismatch
	}
	if sentinel == nil || errors.Is(err, sentinel) {
		return fmt.Errorf("%s: %w", op, err)
	}
	return fmt.Errorf("%s: %w: %w", op, sentinel, err)
}

// isRetryable reports a TPM warning that asks the caller to try again.
func isRetryable(err error) bool {
	return errors.Is(err, tpm2.TPMRCRetry) || errors.Is(err, tpm2.TPMRCYielded) ||
		errors.Is(err, tpm2.TPMRCTesting)
}

// isSessionGone reports that the TPM no longer knows a session we used.
func isSessionGone(err error) bool {
	for rc := tpm2.TPMRCReferenceS0; rc <= tpm2.TPMRCReferenceS6; rc++ {
		if errors.Is(err, rc) {
			return true
		}
	}
	var f1 tpm2.TPMFmt1Error
	if errors.As(err, &f1) {
		if s, _ := f1.Session(); s && (errors.Is(err, tpm2.TPMRCHandle) || errors.Is(err, tpm2.TPMRCValue)) {
			return true
		}
	}
	return false
}

// isObjectGone reports that a handle we held is no longer loaded.
func isObjectGone(err error) bool {
	for rc := tpm2.TPMRCReferenceH0; rc <= tpm2.TPMRCReferenceH6; rc++ {
		if errors.Is(err, rc) {
			return true
		}
	}
	var f1 tpm2.TPMFmt1Error
	if errors.As(err, &f1) {
		if h, _ := f1.Handle(); h && errors.Is(err, tpm2.TPMRCHandle) {
			return true
		}
	}
	return false
}

// ErrImport is a wrapped key the TPM refused to import: wrapped for
// another TPM's SRK, damaged in transit, or not a key this package uses.
var ErrImport = errors.New("tpm: import refused (not wrapped for this TPM's SRK, or damaged)")

// ErrNotExportable is a key that cannot be duplicated to the target asked
// for: it has no duplication policy, or its policy names another target.
var ErrNotExportable = errors.New("tpm: key is not exportable to this target")
