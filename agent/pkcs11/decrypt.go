package pkcs11

import (
	"crypto"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// checkDecryptMech vets a decryption mechanism: the TPM decrypts OAEP
// with SHA-256, MGF1-SHA-256 and an empty label only.
func checkDecryptMech(mi *mechInfo, m rpc.Mechanism, _ *object) (crypto.Hash, uint64) {
	if mi.typ == ckmRSAPKCS {
		if len(m.Params) != 0 {
			return 0, ckrMechanismParamInvalid
		}
		return 0, ckrOK
	}
	if !m.HasOAEP || m.OAEP[0] != ckmSHA256 || m.OAEP[1] != ckgMGF1SHA256 ||
		(m.OAEP[2] != 0 && m.OAEP[2] != ckzDataSpecified) || len(m.OAEPSource) != 0 {
		return 0, ckrMechanismParamInvalid
	}
	return 0, ckrOK
}

func (t *task) decryptInit() uint64 { return t.startOp(opDecrypt, ckfDecrypt, checkDecryptMech) }

// decrypt answers a size query with the modulus size (the TPM is asked
// only for the real thing); a plaintext too long for the buffer is kept
// for the caller's retry.
func (t *task) decrypt() uint64 {
	h := t.in.Ulong()
	ct, _ := t.in.ByteArray()
	buf := t.in.ByteBuffer()
	if !t.done() {
		return ckrDeviceError
	}
	op, rv := t.takeOp(h, opDecrypt)
	if rv != ckrOK {
		return rv
	}
	if op.pending == nil && buf == 0 {
		t.out.ByteArrayLen(op.outLen())
		t.putOp(h, op, false)
		return ckrOK
	}
	pt := op.pending
	if pt == nil {
		if uint32(len(ct)) != op.outLen() {
			t.putOp(h, op, true)
			return ckrEncryptedDataLenRange
		}
		if pt, rv = t.decryptCore(op, ct); rv != ckrOK {
			t.putOp(h, op, true)
			return rv
		}
	}
	t.sensitive = true
	if uint32(len(pt)) > buf {
		op.pending = append(op.pending[:0], pt...)
		t.out.ByteArrayLen(uint32(len(pt)))
		t.putOp(h, op, false)
		return ckrOK
	}
	t.out.ByteArray(pt)
	t.putOp(h, op, true)
	return ckrOK
}

func (t *task) decryptCore(op *operation, ct []byte) ([]byte, uint64) {
	pin, ok := t.pinFor(op)
	if !ok {
		return nil, ckrUserNotLoggedIn
	}
	padding := protocol.PaddingOAEPSHA256
	if op.mech.typ == ckmRSAPKCS {
		padding = protocol.PaddingPKCS1v15
	}
	resp, rv := t.do(protocol.OpDecrypt, &protocol.DecryptRequest{Alias: op.key.key.Alias,
		Ciphertext: append([]byte(nil), ct...), Padding: padding, PIN: pin})
	if rv == ckrArgumentsBad {
		return nil, ckrEncryptedDataInvalid
	}
	if rv != ckrOK {
		return nil, rv
	}
	return resp.(*protocol.DecryptResponse).Plaintext, ckrOK
}
