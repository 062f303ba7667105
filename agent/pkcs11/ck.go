package pkcs11

// PKCS#11 constants this token uses (PKCS #11 v2.40 / v3.0, pkcs11t.h).
const (
	ckoCertificate = 0x1
	ckoPublicKey   = 0x2
	ckoPrivateKey  = 0x3
	ckoSecretKey   = 0x4

	ckkRSA             = 0x0
	ckkEC              = 0x3
	ckkGenericSecret   = 0x10
	ckkSHA256HMAC      = 0x2b
	ckkAES             = 0x1f
	ckcX509            = 0x0
	ckuSO              = 0
	ckuUser            = 1
	ckuContextSpecific = 2

	ckaClass               = 0x000
	ckaToken               = 0x001
	ckaPrivate             = 0x002
	ckaLabel               = 0x003
	ckaValue               = 0x011
	ckaCertificateType     = 0x080
	ckaIssuer              = 0x081
	ckaSerialNumber        = 0x082
	ckaTrusted             = 0x086
	ckaCertificateCategory = 0x087
	ckaKeyType             = 0x100
	ckaSubject             = 0x101
	ckaID                  = 0x102
	ckaSensitive           = 0x103
	ckaEncrypt             = 0x104
	ckaDecrypt             = 0x105
	ckaWrap                = 0x106
	ckaUnwrap              = 0x107
	ckaSign                = 0x108
	ckaSignRecover         = 0x109
	ckaVerify              = 0x10a
	ckaVerifyRecover       = 0x10b
	ckaDerive              = 0x10c
	ckaModulus             = 0x120
	ckaModulusBits         = 0x121
	ckaPublicExponent      = 0x122
	ckaPrivateExponent     = 0x123
	ckaPrime1              = 0x124
	ckaPrime2              = 0x125
	ckaExponent1           = 0x126
	ckaExponent2           = 0x127
	ckaCoefficient         = 0x128
	ckaPublicKeyInfo       = 0x129
	ckaValueLen            = 0x161
	ckaExtractable         = 0x162
	ckaLocal               = 0x163
	ckaNeverExtractable    = 0x164
	ckaAlwaysSensitive     = 0x165
	ckaKeyGenMechanism     = 0x166
	ckaModifiable          = 0x170
	ckaCopyable            = 0x171
	ckaDestroyable         = 0x172
	ckaECParams            = 0x180
	ckaECPoint             = 0x181
	ckaAlwaysAuthenticate  = 0x202
	ckaWrapWithTrusted     = 0x210

	ckmRSAPKCSKeyPairGen = 0x0000
	ckmRSAPKCS           = 0x0001
	ckmRSAPKCSOAEP       = 0x0009
	ckmRSAPKCSPSS        = 0x000d
	ckmSHA256RSAPKCS     = 0x0040
	ckmSHA384RSAPKCS     = 0x0041
	ckmSHA512RSAPKCS     = 0x0042
	ckmSHA256RSAPKCSPSS  = 0x0043
	ckmSHA384RSAPKCSPSS  = 0x0044
	ckmSHA512RSAPKCSPSS  = 0x0045
	ckmSHA256            = 0x0250
	ckmSHA384            = 0x0260
	ckmSHA512            = 0x0270
	ckmECKeyPairGen      = 0x1040
	ckmECDSA             = 0x1041
	ckmECDSASHA256       = 0x1044
	ckmECDSASHA384       = 0x1045
	ckmECDSASHA512       = 0x1046
	ckmECDH1Derive       = 0x1050

	ckgMGF1SHA256    = 0x2
	ckgMGF1SHA384    = 0x3
	ckgMGF1SHA512    = 0x4
	ckzDataSpecified = 0x1
	ckdNull          = 0x1

	// CK_MECHANISM_INFO flags.
	ckfHW              = 0x1
	ckfEncrypt         = 0x100
	ckfDecrypt         = 0x200
	ckfDigest          = 0x400
	ckfSign            = 0x800
	ckfVerify          = 0x2000
	ckfGenerateKeyPair = 0x10000
	ckfDerive          = 0x80000
	ckfECFp            = 0x100000
	ckfECNamedCurve    = 0x800000
	ckfECUncompress    = 0x1000000

	// CK_TOKEN_INFO flags.
	ckfRNG                = 0x1
	ckfLoginRequired      = 0x4
	ckfUserPINInitialized = 0x8
	ckfTokenInitialized   = 0x400
	ckfProtectedAuthPath  = 0x100
	// CK_SLOT_INFO flags.
	ckfTokenPresent = 0x1
	// CK_SESSION_INFO / C_OpenSession flags.
	ckfRWSession     = 0x2
	ckfSerialSession = 0x4

	cksROPublicSession = 0
	cksROUserFunctions = 1
	cksRWPublicSession = 2
	cksRWUserFunctions = 3
)

// CK_RV values.
const (
	ckrOK                          = 0x000
	ckrHostMemory                  = 0x002
	ckrSlotIDInvalid               = 0x003
	ckrGeneralError                = 0x005
	ckrFunctionFailed              = 0x006
	ckrArgumentsBad                = 0x007
	ckrAttributeReadOnly           = 0x010
	ckrAttributeSensitive          = 0x011
	ckrAttributeTypeInvalid        = 0x012
	ckrAttributeValueInvalid       = 0x013
	ckrDataInvalid                 = 0x020
	ckrDataLenRange                = 0x021
	ckrDeviceError                 = 0x030
	ckrDeviceMemory                = 0x031
	ckrDeviceRemoved               = 0x032
	ckrEncryptedDataInvalid        = 0x040
	ckrEncryptedDataLenRange       = 0x041
	ckrFunctionCanceled            = 0x050
	ckrFunctionNotSupported        = 0x054
	ckrKeyHandleInvalid            = 0x060
	ckrKeySizeRange                = 0x062
	ckrKeyTypeInconsistent         = 0x063
	ckrKeyFunctionNotPermitted     = 0x068
	ckrKeyUnextractable            = 0x06a
	ckrMechanismInvalid            = 0x070
	ckrMechanismParamInvalid       = 0x071
	ckrObjectHandleInvalid         = 0x082
	ckrOperationActive             = 0x090
	ckrOperationNotInitialized     = 0x091
	ckrPINIncorrect                = 0x0a0
	ckrPINLenRange                 = 0x0a2
	ckrPINLocked                   = 0x0a4
	ckrSessionClosed               = 0x0b0
	ckrSessionCount                = 0x0b1
	ckrSessionHandleInvalid        = 0x0b3
	ckrSessionParallelNotSupported = 0x0b4
	ckrSessionReadOnly             = 0x0b5
	ckrSessionReadOnlyExists       = 0x0b7
	ckrSignatureInvalid            = 0x0c0
	ckrTemplateIncomplete          = 0x0d0
	ckrTemplateInconsistent        = 0x0d1
	ckrTokenNotPresent             = 0x0e0
	ckrTokenWriteProtected         = 0x0e2
	ckrUserAlreadyLoggedIn         = 0x100
	ckrUserNotLoggedIn             = 0x101
	ckrUserTypeInvalid             = 0x103
	ckrRandomNoRNG                 = 0x121
	ckrBufferTooSmall              = 0x150
	ckrCryptokiNotInitialized      = 0x190
	ckrCryptokiAlreadyInitialized  = 0x191
	ckrFunctionRejected            = 0x200
	ckrPINExpired                  = 0x0a3
)

const (
	ckaStartDate = 0x110
	ckaEndDate   = 0x111
)

const ckrRandomSeedNotSupported = 0x120
