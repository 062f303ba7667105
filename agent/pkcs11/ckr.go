package pkcs11

import "github.com/tpmkeyd/tpmkeyd/protocol"

// ckrTable maps every core status to the closest CK_RV; docs/PKCS11.md
// §7 is this table, and TestCKRTableInDocs keeps them the same. A status
// missing here (a newer one) is CKR_FUNCTION_FAILED.
var ckrTable = map[protocol.Status]uint64{
	protocol.StatusOK:                   ckrOK,
	protocol.StatusBadRequest:           ckrArgumentsBad,
	protocol.StatusUnknownOp:            ckrFunctionNotSupported,
	protocol.StatusUnsupportedVersion:   ckrFunctionNotSupported,
	protocol.StatusFrameTooLarge:        ckrDataLenRange,
	protocol.StatusPermissionDenied:     ckrFunctionRejected,
	protocol.StatusKeyNotFound:          ckrKeyHandleInvalid,
	protocol.StatusKeyExists:            ckrTemplateInconsistent,
	protocol.StatusInvalidAlias:         ckrAttributeValueInvalid,
	protocol.StatusUnsupportedAlgorithm: ckrMechanismInvalid,
	protocol.StatusIncompatiblePurpose:  ckrKeyFunctionNotPermitted,
	protocol.StatusWrongPIN:             ckrPINIncorrect,
	protocol.StatusLockedOut:            ckrPINLocked,
	protocol.StatusPolicyMismatch:       ckrFunctionRejected,
	protocol.StatusKeyInvalidated:       ckrKeyHandleInvalid,
	protocol.StatusTPMChanged:           ckrDeviceRemoved,
	protocol.StatusTPMUnavailable:       ckrDeviceError,
	protocol.StatusTPMError:             ckrDeviceError,
	protocol.StatusRateLimited:          ckrFunctionRejected,
	protocol.StatusQuotaExceeded:        ckrDeviceMemory,
	protocol.StatusBusy:                 ckrFunctionRejected,
	protocol.StatusInternal:             ckrGeneralError,
	protocol.StatusDecryptFailed:        ckrEncryptedDataInvalid,
	protocol.StatusKeyVersionDisabled:   ckrKeyFunctionNotPermitted,
	protocol.StatusNotExportable:        ckrKeyUnextractable,
	protocol.StatusImportFailed:         ckrTemplateInconsistent,
}

// ckrOf is the CK_RV a core status becomes.
func ckrOf(st protocol.Status) uint64 {
	if rv, ok := ckrTable[st]; ok {
		return rv
	}
	return ckrFunctionFailed
}
