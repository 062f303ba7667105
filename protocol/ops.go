package protocol

import (
	"reflect"
	"strconv"
)

// OpSpec is what the protocol says of one operation: its opcode, its wire
// name (the name Hello lists under operations), its request and response
// types, and the key purpose it needs. The agent's core adds, per
// operation, the handler and the admission cost (agent/core/optable.go).
type OpSpec struct {
	Op   Op
	Name string
	// Purpose is the key purpose the operation needs ("" when it uses no
	// key, or any key of the caller's, as GetKey does).
	Purpose string
	// Reserved is set for an opcode set aside for a later version; it has
	// no types, and a server answers it UNKNOWN_OP.
	Reserved bool
	// Doc is the §6.1 description of a reserved opcode.
	Doc string

	newReq, newResp func() any
	reqType         reflect.Type
}

// NewRequest returns a pointer to a zero request of the operation.
func (s *OpSpec) NewRequest() any { return s.newReq() }

// NewResponse returns a pointer to a zero response of the operation.
func (s *OpSpec) NewResponse() any { return s.newResp() }

// RequestType is the operation's request struct type (not the pointer).
func (s *OpSpec) RequestType() reflect.Type { return s.reqType }

func op[Req, Resp any](o Op, name, purpose string) OpSpec {
	return OpSpec{Op: o, Name: name, Purpose: purpose,
		newReq:  func() any { return new(Req) },
		newResp: func() any { return new(Resp) },
		reqType: reflect.TypeFor[Req](),
	}
}

func reserved(o Op, name, doc string) OpSpec {
	return OpSpec{Op: o, Name: name, Reserved: true, Doc: doc}
}

// opTable is the one list of operations. Everything else about opcodes
// (NewRequest, Op.String, Hello's operations, the docs' §6.1 table, which a
// test compares with this list) derives from it. Adding an operation is an
// entry here, a request/response pair in messages.go, a handler in the
// core, golden vectors and docs. It is never written after start-up.
var opTable = []OpSpec{
	op[HelloRequest, HelloResponse](OpHello, "Hello", ""),
	op[GenerateKeyRequest, GenerateKeyResponse](OpGenerateKey, "GenerateKey", ""),
	op[GetKeyRequest, GetKeyResponse](OpGetKey, "GetKey", ""),
	op[ListKeysRequest, ListKeysResponse](OpListKeys, "ListKeys", ""),
	op[DeleteKeyRequest, DeleteKeyResponse](OpDeleteKey, "DeleteKey", ""),
	op[SignRequest, SignResponse](OpSign, "Sign", PurposeSign),
	op[VerifyRequest, VerifyResponse](OpVerify, "Verify", PurposeSign),
	op[DecryptRequest, DecryptResponse](OpDecrypt, "Decrypt", PurposeDecrypt),
	op[EncryptRequest, EncryptResponse](OpEncrypt, "Encrypt", PurposeDecrypt),
	op[ECDHRequest, ECDHResponse](OpECDH, "ECDH", PurposeAgree),
	op[SealRequest, SealResponse](OpSeal, "Seal", ""),
	op[UnsealRequest, UnsealResponse](OpUnseal, "Unseal", ""),
	op[GetRandomRequest, GetRandomResponse](OpGetRandom, "GetRandom", ""),
	op[StatusRequest, StatusResponse](OpStatus, "Status", ""),

	op[AEADEncryptRequest, AEADEncryptResponse](OpAEADEncrypt, "AEADEncrypt", PurposeEncrypt),
	op[AEADDecryptRequest, AEADDecryptResponse](OpAEADDecrypt, "AEADDecrypt", PurposeEncrypt),
	op[MACRequest, MACResponse](OpMAC, "MAC", PurposeMAC),
	op[VerifyMACRequest, VerifyMACResponse](OpVerifyMAC, "VerifyMAC", PurposeMAC),
	op[ImportKeyRequest, ImportKeyResponse](OpImportKey, "ImportKey", ""),
	reserved(OpAttest, "Attest", "TPM attestation of a key"),
	reserved(OpGrant, "Grant", "let another uid use a key"),
	reserved(OpUngrant, "Ungrant", ""),
	reserved(OpListGrants, "ListGrants", ""),
	op[RotateKeyRequest, RotateKeyResponse](OpRotateKey, "RotateKey", ""),
	op[GenerateDataKeyRequest, GenerateDataKeyResponse](OpGenerateDataKey, "GenerateDataKey", PurposeEncrypt),
	op[ReEncryptRequest, ReEncryptResponse](OpReEncrypt, "ReEncrypt", PurposeEncrypt),
	op[SetKeyVersionRequest, SetKeyVersionResponse](OpSetKeyVersion, "SetKeyVersion", ""),
	op[ExportKeyRequest, ExportKeyResponse](OpExportKey, "ExportKey", ""),
	op[SSHKeyRequest, SSHKeyResponse](OpSSHKey, "SSHKey", PurposeSign),
	op[SSHListRequest, SSHListResponse](OpSSHList, "SSHList", ""),
	op[SSHSignRequest, SSHSignResponse](OpSSHSign, "SSHSign", PurposeSign),
	op[SSHAgentRequest, SSHAgentResponse](OpSSHAgent, "SSHAgent", ""),
	op[PutCertificateRequest, PutCertificateResponse](OpPutCertificate, "PutCertificate", ""),
	op[GetCertificateRequest, GetCertificateResponse](OpGetCertificate, "GetCertificate", ""),
	op[DeleteCertificateRequest, DeleteCertificateResponse](OpDeleteCertificate, "DeleteCertificate", ""),
	op[ListCertificatesRequest, ListCertificatesResponse](OpListCertificates, "ListCertificates", ""),
}

// LookupOp returns the table entry of o: a served or a reserved operation.
func LookupOp(o Op) (*OpSpec, bool) {
	for i := range opTable {
		if opTable[i].Op == o {
			return &opTable[i], true
		}
	}
	return nil, false
}

// Served returns the operations this version of the protocol serves, in
// opcode order. The slice is a copy.
func Served() []OpSpec {
	var out []OpSpec
	for _, s := range opTable {
		if !s.Reserved {
			out = append(out, s)
		}
	}
	return out
}

// AllOps returns every operation of the table, reserved ones included, in
// opcode order. The slice is a copy.
func AllOps() []OpSpec { return append([]OpSpec(nil), opTable...) }

// NewRequest returns a pointer to a zero request struct for op, or nil if op
// is not a served operation.
func NewRequest(o Op) any {
	if s, ok := LookupOp(o); ok && !s.Reserved {
		return s.newReq()
	}
	return nil
}

// NewResponse returns a pointer to a zero response struct for op, or nil if
// op is not a served operation.
func NewResponse(o Op) any {
	if s, ok := LookupOp(o); ok && !s.Reserved {
		return s.newResp()
	}
	return nil
}

// OpOfRequest returns the operation whose request type is t (a struct type,
// such as reflect.TypeFor[SignRequest]()).
func OpOfRequest(t reflect.Type) (Op, bool) {
	for _, s := range opTable {
		if !s.Reserved && s.reqType == t {
			return s.Op, true
		}
	}
	return 0, false
}

// String returns the operation's name, such as "Sign" (the names Hello
// lists under operations), or "Op(<n>)" for a number with no name.
func (o Op) String() string {
	if s, ok := LookupOp(o); ok {
		return s.Name
	}
	return "Op(" + strconv.Itoa(int(o)) + ")"
}

// IsV1 reports whether o is an operation of protocol version 1.
func (o Op) IsV1() bool {
	s, ok := LookupOp(o)
	return ok && !s.Reserved
}

// IsReserved reports whether o is reserved for a later version; a version-1
// server answers it UNKNOWN_OP.
func (o Op) IsReserved() bool {
	s, ok := LookupOp(o)
	return ok && s.Reserved
}

// V1Ops returns the version-1 operations in opcode order.
func V1Ops() []Op {
	var ops []Op
	for _, s := range opTable {
		if !s.Reserved {
			ops = append(ops, s.Op)
		}
	}
	return ops
}

// ParseOp returns the version-1 or reserved operation named name.
func ParseOp(name string) (Op, bool) {
	for _, s := range opTable {
		if s.Name == name {
			return s.Op, true
		}
	}
	return 0, false
}
