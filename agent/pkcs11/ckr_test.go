package pkcs11

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

var ckrNames = map[uint64]string{
	ckrOK: "CKR_OK", ckrArgumentsBad: "CKR_ARGUMENTS_BAD", ckrFunctionNotSupported: "CKR_FUNCTION_NOT_SUPPORTED",
	ckrDataLenRange: "CKR_DATA_LEN_RANGE", ckrFunctionRejected: "CKR_FUNCTION_REJECTED",
	ckrKeyHandleInvalid: "CKR_KEY_HANDLE_INVALID", ckrTemplateInconsistent: "CKR_TEMPLATE_INCONSISTENT",
	ckrAttributeValueInvalid: "CKR_ATTRIBUTE_VALUE_INVALID", ckrMechanismInvalid: "CKR_MECHANISM_INVALID",
	ckrKeyFunctionNotPermitted: "CKR_KEY_FUNCTION_NOT_PERMITTED", ckrPINIncorrect: "CKR_PIN_INCORRECT",
	ckrPINLocked: "CKR_PIN_LOCKED", ckrDeviceRemoved: "CKR_DEVICE_REMOVED", ckrDeviceError: "CKR_DEVICE_ERROR",
	ckrDeviceMemory: "CKR_DEVICE_MEMORY", ckrGeneralError: "CKR_GENERAL_ERROR",
	ckrEncryptedDataInvalid: "CKR_ENCRYPTED_DATA_INVALID", ckrKeyUnextractable: "CKR_KEY_UNEXTRACTABLE",
}

// TestCKRTableInDocs checks docs/PKCS11.md §7 against ckrTable: every
// status of protocol/status.go has a row, with the CK_RV the code sends.
func TestCKRTableInDocs(t *testing.T) {
	doc, err := os.ReadFile("../../docs/PKCS11.md")
	if err != nil {
		t.Fatal(err)
	}
	for st := protocol.Status(0); st < 64; st++ {
		name := st.String()
		if strings.HasPrefix(name, "Status(") || strings.HasPrefix(name, "STATUS_") || name == "" {
			continue
		}
		rv, ok := ckrTable[st]
		if !ok {
			t.Errorf("ckrTable has no row for %s", name)
			continue
		}
		row := fmt.Sprintf("| `%s` | `%s`", name, ckrNames[rv])
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/PKCS11.md §7 lacks the row %q", row)
		}
	}
}
