package protocol

import "strconv"

// maxStatus is the highest status number version 1 defines.
const maxStatus = StatusInternal

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
	}
	return "STATUS_" + strconv.Itoa(int(s))
}

// ParseStatus returns the status whose String is name.
func ParseStatus(name string) (Status, bool) {
	for s := StatusOK; s <= maxStatus; s++ {
		if s.String() == name {
			return s, true
		}
	}
	return 0, false
}

// Statuses returns every status version 1 defines, in numeric order.
func Statuses() []Status {
	all := make([]Status, 0, maxStatus+1)
	for s := StatusOK; s <= maxStatus; s++ {
		all = append(all, s)
	}
	return all
}

// String returns the operation's name, such as "Sign" (the names Hello
// lists under operations), or "Op(<n>)" for a number with no name.
func (o Op) String() string {
	switch o {
	case OpHello:
		return "Hello"
	case OpGenerateKey:
		return "GenerateKey"
	case OpGetKey:
		return "GetKey"
	case OpListKeys:
		return "ListKeys"
	case OpDeleteKey:
		return "DeleteKey"
	case OpSign:
		return "Sign"
	case OpVerify:
		return "Verify"
	case OpDecrypt:
		return "Decrypt"
	case OpEncrypt:
		return "Encrypt"
	case OpECDH:
		return "ECDH"
	case OpSeal:
		return "Seal"
	case OpUnseal:
		return "Unseal"
	case OpGetRandom:
		return "GetRandom"
	case OpStatus:
		return "Status"
	case OpAEADEncrypt:
		return "AEADEncrypt"
	case OpAEADDecrypt:
		return "AEADDecrypt"
	case OpMAC:
		return "MAC"
	case OpVerifyMAC:
		return "VerifyMAC"
	case OpImport:
		return "Import"
	case OpAttest:
		return "Attest"
	case OpGrant:
		return "Grant"
	case OpUngrant:
		return "Ungrant"
	case OpListGrants:
		return "ListGrants"
	case OpRotateKey:
		return "RotateKey"
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// IsV1 reports whether o is an operation of protocol version 1.
func (o Op) IsV1() bool { return o >= OpHello && o <= OpStatus }

// IsReserved reports whether o is reserved for a later version; a version-1
// server answers it UNKNOWN_OP.
func (o Op) IsReserved() bool { return o >= OpAEADEncrypt && o <= OpRotateKey }

// V1Ops returns the version-1 operations in opcode order.
func V1Ops() []Op {
	ops := make([]Op, 0, OpStatus)
	for o := OpHello; o <= OpStatus; o++ {
		ops = append(ops, o)
	}
	return ops
}

// ParseOp returns the version-1 or reserved operation named name.
func ParseOp(name string) (Op, bool) {
	for o := OpHello; o <= OpRotateKey; o++ {
		if (o.IsV1() || o.IsReserved()) && o.String() == name {
			return o, true
		}
	}
	return 0, false
}
