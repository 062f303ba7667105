package rpc

// Attribute types whose value kind is not the default byte array. The
// list follows p11-kit 0.24.1's map_attribute_to_value_type; the kind
// decides the wire encoding of the value, so a server and a client must
// agree on it for every attribute they exchange.
const (
	attrArrayFlag      = 0x40000000
	attrWrapTemplate   = attrArrayFlag | 0x211
	attrUnwrapTemplate = attrArrayFlag | 0x212
	attrAllowedMechs   = attrArrayFlag | 0x600
	attrStartDate      = 0x110
	attrEndDate        = 0x111
)

// valueKind is how an attribute's value is encoded.
type valueKind int

const (
	kindBytes     valueKind = iota // u32 length + bytes (0xffffffff: none)
	kindByte                       // one byte (CK_BBOOL and the like)
	kindUlong                      // u64
	kindAttrArray                  // nested attribute array (refused)
	kindMechArray                  // u32 count + u64 each
	kindDate                       // byte array of 8 bytes or none
)

// byteAttrs and ulongAttrs are the attributes of p11-kit's map that are
// CK_BBOOL/CK_BYTE and CK_ULONG.
var byteAttrs = map[uint32]bool{
	0x001: true, 0x002: true, 0x086: true, 0x103: true, 0x104: true, 0x105: true, // TOKEN PRIVATE TRUSTED SENSITIVE ENCRYPT DECRYPT
	0x106: true, 0x107: true, 0x108: true, 0x109: true, 0x10a: true, 0x10b: true, // WRAP UNWRAP SIGN SIGN_RECOVER VERIFY VERIFY_RECOVER
	0x10c: true, 0x162: true, 0x163: true, 0x164: true, 0x165: true, 0x170: true, // DERIVE EXTRACTABLE LOCAL NEVER_EXTRACTABLE ALWAYS_SENSITIVE MODIFIABLE
	0x171: true, 0x200: true, 0x202: true, 0x210: true, 0x301: true, 0x302: true, // COPYABLE SECONDARY_AUTH ALWAYS_AUTHENTICATE WRAP_WITH_TRUSTED RESET_ON_INIT HAS_RESET
	0x405: true, // COLOR
}

var ulongAttrs = map[uint32]bool{
	0x000: true, 0x080: true, 0x087: true, 0x088: true, 0x100: true, 0x121: true, // CLASS CERTIFICATE_TYPE CERTIFICATE_CATEGORY JAVA_MIDP KEY_TYPE MODULUS_BITS
	0x133: true, 0x134: true, 0x160: true, 0x161: true, 0x166: true, 0x201: true, // PRIME_BITS SUBPRIME_BITS VALUE_BITS VALUE_LEN KEY_GEN_MECHANISM AUTH_PIN_FLAGS
	0x300: true, 0x400: true, 0x401: true, 0x402: true, 0x403: true, 0x404: true, // HW_FEATURE_TYPE PIXEL_X PIXEL_Y RESOLUTION CHAR_ROWS CHAR_COLUMNS
	0x406: true, 0x500: true, // BITS_PER_PIXEL MECHANISM_TYPE
}

func kindOf(t uint32) valueKind {
	switch {
	case byteAttrs[t]:
		return kindByte
	case ulongAttrs[t]:
		return kindUlong
	case t == attrWrapTemplate || t == attrUnwrapTemplate:
		return kindAttrArray
	case t == attrAllowedMechs:
		return kindMechArray
	case t == attrStartDate || t == attrEndDate:
		return kindDate
	}
	return kindBytes
}

// Attribute is one CK_ATTRIBUTE. Value holds a CK_BBOOL as one byte, a
// CK_ULONG as 8 big-endian bytes, an array of mechanism types as 8 bytes
// each, anything else as its bytes. Invalid marks an attribute whose
// value is unavailable (ulValueLen = -1 in C).
type Attribute struct {
	Type    uint32
	Value   []byte
	Invalid bool
}

// Bool is the attribute's value as a CK_BBOOL.
func (a Attribute) Bool() (bool, bool) {
	if a.Invalid || len(a.Value) != 1 {
		return false, false
	}
	return a.Value[0] != 0, true
}

// Ulong is the attribute's value as a CK_ULONG.
func (a Attribute) Ulong() (uint64, bool) {
	if a.Invalid || len(a.Value) != 8 {
		return 0, false
	}
	return be64(a.Value), true
}

// BoolAttr and UlongAttr make attributes of those kinds; BytesAttr any
// other.
func BoolAttr(t uint32, v bool) Attribute {
	b := byte(0)
	if v {
		b = 1
	}
	return Attribute{Type: t, Value: []byte{b}}
}

func UlongAttr(t uint32, v uint64) Attribute {
	return Attribute{Type: t, Value: put64(nil, v)}
}

func BytesAttr(t uint32, v []byte) Attribute { return Attribute{Type: t, Value: v} }

// nativeLen is the ulValueLen a C caller sees for the value.
func (a Attribute) nativeLen() uint32 {
	return uint32(len(a.Value))
}

// AttrRequest is one entry of an "fA" buffer: an attribute a caller asks
// for and the size of the buffer it has for it (0: it asks for the size).
type AttrRequest struct {
	Type   uint32
	BufLen uint32
}

// Mechanism is a CK_MECHANISM with its parameters decoded by kind.
type Mechanism struct {
	Type uint32
	// Params is the raw parameter of a mechanism p11-kit sends as a byte
	// array (nil: none).
	Params []byte
	// PSS holds CK_RSA_PKCS_PSS_PARAMS (hashAlg, mgf, sLen) when HasPSS.
	PSS    [3]uint64
	HasPSS bool
	// OAEP holds CK_RSA_PKCS_OAEP_PARAMS (hashAlg, mgf, source) and its
	// source data when HasOAEP.
	OAEP       [3]uint64
	OAEPSource []byte
	HasOAEP    bool
	// ECDH holds CK_ECDH1_DERIVE_PARAMS when HasECDH.
	ECDHKDF        uint64
	ECDHSharedData []byte
	ECDHPublicData []byte
	HasECDH        bool
}

// Mechanism types with their own parameter encoding (p11-kit's
// mechanism serializers; 0.24.1 has the first and OAEP, newer versions
// all of them; a client never sends one it has no serializer for).
func mechParamKind(t uint32) byte {
	switch t {
	case 0x0d, 0x0e, 0x43, 0x44, 0x45, 0x47: // RSA_PKCS_PSS, SHA1/256/384/512/224_RSA_PKCS_PSS
		return 'p'
	case 0x09: // RSA_PKCS_OAEP
		return 'o'
	case 0x1050: // ECDH1_DERIVE
		return 'e'
	}
	return 'b'
}

func be64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

func put64(dst []byte, v uint64) []byte {
	return append(dst, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func put32(dst []byte, v uint32) []byte {
	return append(dst, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
