package rpc

// Call is a p11-kit RPC call id: the position of the PKCS#11 function in
// p11-kit's call table (rpc-message.h). 0 is the error response.
type Call uint32

// The calls a server of version 0 answers, in table order.
const (
	CallError Call = iota
	CallInitialize
	CallFinalize
	CallGetInfo
	CallGetSlotList
	CallGetSlotInfo
	CallGetTokenInfo
	CallGetMechanismList
	CallGetMechanismInfo
	CallInitToken
	CallOpenSession
	CallCloseSession
	CallCloseAllSessions
	CallGetSessionInfo
	CallInitPIN
	CallSetPIN
	CallGetOperationState
	CallSetOperationState
	CallLogin
	CallLogout
	CallCreateObject
	CallCopyObject
	CallDestroyObject
	CallGetObjectSize
	CallGetAttributeValue
	CallSetAttributeValue
	CallFindObjectsInit
	CallFindObjects
	CallFindObjectsFinal
	CallEncryptInit
	CallEncrypt
	CallEncryptUpdate
	CallEncryptFinal
	CallDecryptInit
	CallDecrypt
	CallDecryptUpdate
	CallDecryptFinal
	CallDigestInit
	CallDigest
	CallDigestUpdate
	CallDigestKey
	CallDigestFinal
	CallSignInit
	CallSign
	CallSignUpdate
	CallSignFinal
	CallSignRecoverInit
	CallSignRecover
	CallVerifyInit
	CallVerify
	CallVerifyUpdate
	CallVerifyFinal
	CallVerifyRecoverInit
	CallVerifyRecover
	CallDigestEncryptUpdate
	CallDecryptDigestUpdate
	CallSignEncryptUpdate
	CallDecryptVerifyUpdate
	CallGenerateKey
	CallGenerateKeyPair
	CallWrapKey
	CallUnwrapKey
	CallDeriveKey
	CallSeedRandom
	CallGenerateRandom
	CallWaitForSlotEvent
	numCalls
)

// callSpec is one row of the call table: the function's name and the
// signatures of its request and response. A signature is a string of
// value codes: y byte, u ulong (8 bytes), v version (2 bytes), s
// space-padded string, z string, ay byte array, au ulong array, aA
// attribute array, fy/fu/fA the size of a buffer the caller offers for
// bytes, ulongs or attributes, M a mechanism.
type callSpec struct {
	name      string
	req, resp string
}

// calls is the call table of protocol version 0, indexed by Call.
var calls = [numCalls]callSpec{
	CallError:               {"ERROR", "", "u"},
	CallInitialize:          {"C_Initialize", "ayyay", ""},
	CallFinalize:            {"C_Finalize", "", ""},
	CallGetInfo:             {"C_GetInfo", "", "vsusv"},
	CallGetSlotList:         {"C_GetSlotList", "yfu", "au"},
	CallGetSlotInfo:         {"C_GetSlotInfo", "u", "ssuvv"},
	CallGetTokenInfo:        {"C_GetTokenInfo", "u", "ssssuuuuuuuuuuuvvs"},
	CallGetMechanismList:    {"C_GetMechanismList", "ufu", "au"},
	CallGetMechanismInfo:    {"C_GetMechanismInfo", "uu", "uuu"},
	CallInitToken:           {"C_InitToken", "uayz", ""},
	CallOpenSession:         {"C_OpenSession", "uu", "u"},
	CallCloseSession:        {"C_CloseSession", "u", ""},
	CallCloseAllSessions:    {"C_CloseAllSessions", "u", ""},
	CallGetSessionInfo:      {"C_GetSessionInfo", "u", "uuuu"},
	CallInitPIN:             {"C_InitPIN", "uay", ""},
	CallSetPIN:              {"C_SetPIN", "uayay", ""},
	CallGetOperationState:   {"C_GetOperationState", "ufy", "ay"},
	CallSetOperationState:   {"C_SetOperationState", "uayuu", ""},
	CallLogin:               {"C_Login", "uuay", ""},
	CallLogout:              {"C_Logout", "u", ""},
	CallCreateObject:        {"C_CreateObject", "uaA", "u"},
	CallCopyObject:          {"C_CopyObject", "uuaA", "u"},
	CallDestroyObject:       {"C_DestroyObject", "uu", ""},
	CallGetObjectSize:       {"C_GetObjectSize", "uu", "u"},
	CallGetAttributeValue:   {"C_GetAttributeValue", "uufA", "aAu"},
	CallSetAttributeValue:   {"C_SetAttributeValue", "uuaA", ""},
	CallFindObjectsInit:     {"C_FindObjectsInit", "uaA", ""},
	CallFindObjects:         {"C_FindObjects", "ufu", "au"},
	CallFindObjectsFinal:    {"C_FindObjectsFinal", "u", ""},
	CallEncryptInit:         {"C_EncryptInit", "uMu", ""},
	CallEncrypt:             {"C_Encrypt", "uayfy", "ay"},
	CallEncryptUpdate:       {"C_EncryptUpdate", "uayfy", "ay"},
	CallEncryptFinal:        {"C_EncryptFinal", "ufy", "ay"},
	CallDecryptInit:         {"C_DecryptInit", "uMu", ""},
	CallDecrypt:             {"C_Decrypt", "uayfy", "ay"},
	CallDecryptUpdate:       {"C_DecryptUpdate", "uayfy", "ay"},
	CallDecryptFinal:        {"C_DecryptFinal", "ufy", "ay"},
	CallDigestInit:          {"C_DigestInit", "uM", ""},
	CallDigest:              {"C_Digest", "uayfy", "ay"},
	CallDigestUpdate:        {"C_DigestUpdate", "uay", ""},
	CallDigestKey:           {"C_DigestKey", "uu", ""},
	CallDigestFinal:         {"C_DigestFinal", "ufy", "ay"},
	CallSignInit:            {"C_SignInit", "uMu", ""},
	CallSign:                {"C_Sign", "uayfy", "ay"},
	CallSignUpdate:          {"C_SignUpdate", "uay", ""},
	CallSignFinal:           {"C_SignFinal", "ufy", "ay"},
	CallSignRecoverInit:     {"C_SignRecoverInit", "uMu", ""},
	CallSignRecover:         {"C_SignRecover", "uayfy", "ay"},
	CallVerifyInit:          {"C_VerifyInit", "uMu", ""},
	CallVerify:              {"C_Verify", "uayay", ""},
	CallVerifyUpdate:        {"C_VerifyUpdate", "uay", ""},
	CallVerifyFinal:         {"C_VerifyFinal", "uay", ""},
	CallVerifyRecoverInit:   {"C_VerifyRecoverInit", "uMu", ""},
	CallVerifyRecover:       {"C_VerifyRecover", "uayfy", "ay"},
	CallDigestEncryptUpdate: {"C_DigestEncryptUpdate", "uayfy", "ay"},
	CallDecryptDigestUpdate: {"C_DecryptDigestUpdate", "uayfy", "ay"},
	CallSignEncryptUpdate:   {"C_SignEncryptUpdate", "uayfy", "ay"},
	CallDecryptVerifyUpdate: {"C_DecryptVerifyUpdate", "uayfy", "ay"},
	CallGenerateKey:         {"C_GenerateKey", "uMaA", "u"},
	CallGenerateKeyPair:     {"C_GenerateKeyPair", "uMaAaA", "uu"},
	CallWrapKey:             {"C_WrapKey", "uMuufy", "ay"},
	CallUnwrapKey:           {"C_UnwrapKey", "uMuayaA", "u"},
	CallDeriveKey:           {"C_DeriveKey", "uMuaA", "u"},
	CallSeedRandom:          {"C_SeedRandom", "uay", ""},
	CallGenerateRandom:      {"C_GenerateRandom", "ufy", "ay"},
	CallWaitForSlotEvent:    {"C_WaitForSlotEvent", "u", "u"},
}

// Known reports whether c is in the call table.
func (c Call) Known() bool { return c < numCalls }

// String is the PKCS#11 function's name, or "call-N".
func (c Call) String() string {
	if c.Known() {
		return calls[c].name
	}
	return "call-" + itoa(uint64(c))
}

// RequestSignature is the signature string of c's request.
func (c Call) RequestSignature() string { return calls[c].req }

// ResponseSignature is the signature string of c's response.
func (c Call) ResponseSignature() string { return calls[c].resp }

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
