package protocol

import (
	"crypto"
	"strconv"
)

// maxStatus is the highest status number version 1 defines.
const maxStatus = StatusImportFailed

// String returns the wire name of s, such as "KEY_NOT_FOUND", or
// "STATUS_<n>" for a number this version does not know.
func (s Status) String() string {
	switch s {
	case StatusOK:
		return "OK"
	case StatusBadRequest:
		return "BAD_REQUEST"
	case StatusUnknownOp:
		return "UNKNOWN_OP"
	case StatusUnsupportedVersion:
		return "UNSUPPORTED_VERSION"
	case StatusFrameTooLarge:
		return "FRAME_TOO_LARGE"
	case StatusPermissionDenied:
		return "PERMISSION_DENIED"
	case StatusKeyNotFound:
		return "KEY_NOT_FOUND"
	case StatusKeyExists:
		return "KEY_EXISTS"
	case StatusInvalidAlias:
		return "INVALID_ALIAS"
	case StatusUnsupportedAlgorithm:
		return "UNSUPPORTED_ALGORITHM"
	case StatusIncompatiblePurpose:
		return "INCOMPATIBLE_PURPOSE"
	case StatusWrongPIN:
		return "WRONG_PIN"
	case StatusLockedOut:
		return "LOCKED_OUT"
	case StatusPolicyMismatch:
		return "POLICY_MISMATCH"
	case StatusKeyInvalidated:
		return "KEY_INVALIDATED"
	case StatusTPMChanged:
		return "TPM_CHANGED"
	case StatusTPMUnavailable:
		return "TPM_UNAVAILABLE"
	case StatusTPMError:
		return "TPM_ERROR"
	case StatusRateLimited:
		return "RATE_LIMITED"
	case StatusQuotaExceeded:
		return "QUOTA_EXCEEDED"
	case StatusBusy:
		return "BUSY"
	case StatusInternal:
		return "INTERNAL"
	case StatusDecryptFailed:
		return "DECRYPT_FAILED"
	case StatusKeyVersionDisabled:
		return "KEY_VERSION_DISABLED"
	case StatusNotExportable:
		return "NOT_EXPORTABLE"
	case StatusImportFailed:
		return "IMPORT_FAILED"
	}
	return "STATUS_" + strconv.Itoa(int(s))
}

// known reports whether s has a name (maxStatus leaves gaps for numbers
// allocated to work not merged yet).
func (s Status) known() bool { return s.String() != "STATUS_"+strconv.Itoa(int(s)) }

// ParseStatus returns the status whose String is name.
func ParseStatus(name string) (Status, bool) {
	for s := StatusOK; s <= maxStatus; s++ {
		if s.known() && s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// Statuses returns every status version 1 defines, in numeric order.
func Statuses() []Status {
	all := make([]Status, 0, maxStatus+1)
	for s := StatusOK; s <= maxStatus; s++ {
		if s.known() { // numbers not (yet) assigned are skipped
			all = append(all, s)
		}
	}
	return all
}

// HashByName returns the hash a wire hash name stands for ("sha256",
// "sha384", "sha512").
func HashByName(name string) (crypto.Hash, bool) {
	switch name {
	case HashSHA256:
		return crypto.SHA256, true
	case HashSHA384:
		return crypto.SHA384, true
	case HashSHA512:
		return crypto.SHA512, true
	}
	return 0, false
}

// HashName returns the wire name of h, or false for a hash the protocol
// does not carry.
func HashName(h crypto.Hash) (string, bool) {
	for _, n := range []string{HashSHA256, HashSHA384, HashSHA512} {
		if hh, _ := HashByName(n); hh == h {
			return n, true
		}
	}
	return "", false
}
