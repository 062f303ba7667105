package protocol

// NewRequest returns a pointer to a zero request struct for op, or nil if op
// is not a version-1 operation.
func NewRequest(op Op) any {
	switch op {
	case OpHello:
		return new(HelloRequest)
	case OpGenerateKey:
		return new(GenerateKeyRequest)
	case OpGetKey:
		return new(GetKeyRequest)
	case OpListKeys:
		return new(ListKeysRequest)
	case OpDeleteKey:
		return new(DeleteKeyRequest)
	case OpSign:
		return new(SignRequest)
	case OpVerify:
		return new(VerifyRequest)
	case OpDecrypt:
		return new(DecryptRequest)
	case OpEncrypt:
		return new(EncryptRequest)
	case OpECDH:
		return new(ECDHRequest)
	case OpSeal:
		return new(SealRequest)
	case OpUnseal:
		return new(UnsealRequest)
	case OpGetRandom:
		return new(GetRandomRequest)
	case OpStatus:
		return new(StatusRequest)
	}
	return nil
}

// NewResponse returns a pointer to a zero response struct for op, or nil if
// op is not a version-1 operation.
func NewResponse(op Op) any {
	switch op {
	case OpHello:
		return new(HelloResponse)
	case OpGenerateKey:
		return new(GenerateKeyResponse)
	case OpGetKey:
		return new(GetKeyResponse)
	case OpListKeys:
		return new(ListKeysResponse)
	case OpDeleteKey:
		return new(DeleteKeyResponse)
	case OpSign:
		return new(SignResponse)
	case OpVerify:
		return new(VerifyResponse)
	case OpDecrypt:
		return new(DecryptResponse)
	case OpEncrypt:
		return new(EncryptResponse)
	case OpECDH:
		return new(ECDHResponse)
	case OpSeal:
		return new(SealResponse)
	case OpUnseal:
		return new(UnsealResponse)
	case OpGetRandom:
		return new(GetRandomResponse)
	case OpStatus:
		return new(StatusResponse)
	}
	return nil
}
