package pkcs11

import (
	"crypto"
	"encoding/asn1"
	"math/big"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// C_Verify and C_Encrypt use the public key only: the core's Verify and
// Encrypt do them in software, on the stored public key, with the same
// admission, rate cost and audit as every call (docs/PKCS11.md §4).

func (t *task) verifyInit() uint64 { return t.startOp(opVerify, ckfVerify, checkSignMech) }

func (t *task) verify() uint64 {
	h := t.in.Ulong()
	data, _ := t.in.ByteArray()
	sig, _ := t.in.ByteArray()
	if !t.done() {
		return ckrDeviceError
	}
	op, rv := t.takeOp(h, opVerify)
	if rv != ckrOK {
		return rv
	}
	op.add(data)
	return t.finishVerify(h, op, sig)
}

func (t *task) verifyUpdate() uint64 { return t.update(opVerify) }

func (t *task) verifyFinal() uint64 {
	h := t.in.Ulong()
	sig, _ := t.in.ByteArray()
	if !t.done() {
		return ckrDeviceError
	}
	op, rv := t.takeOp(h, opVerify)
	if rv != ckrOK {
		return rv
	}
	return t.finishVerify(h, op, sig)
}

// finishVerify checks sig over the op's input through the core and ends
// the op: CKR_SIGNATURE_INVALID for a signature that does not verify,
// CKR_SIGNATURE_LEN_RANGE for one of the wrong size.
func (t *task) finishVerify(h uint64, op *operation, sig []byte) uint64 {
	defer t.putOp(h, op, true)
	if uint32(len(sig)) != op.outLen() {
		return ckrSignatureLenRange
	}
	hash, digest, rv := signInput(op)
	if rv != ckrOK {
		return rv
	}
	if op.mech.keyType == ckkEC {
		n := len(sig) / 2
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])})
		if err != nil {
			return ckrGeneralError
		}
		sig = der
	}
	resp, rv := t.do(protocol.OpVerify, &protocol.VerifyRequest{Alias: op.key.key.Alias, Digest: digest,
		Hash: wireHash(hash), PSS: op.mech.pss, Signature: sig})
	if rv == ckrArgumentsBad || (hash == crypto.SHA1 && rv == ckrMechanismInvalid) {
		return ckrDataInvalid
	}
	if rv != ckrOK {
		return rv
	}
	if !resp.(*protocol.VerifyResponse).Valid {
		return ckrSignatureInvalid
	}
	return ckrOK
}

func (t *task) encryptInit() uint64 { return t.startOp(opEncrypt, ckfEncrypt, checkDecryptMech) }

// encrypt answers a size query with the modulus size, without the core;
// the ciphertext is always that long.
func (t *task) encrypt() uint64 {
	h := t.in.Ulong()
	pt, _ := t.in.ByteArray()
	buf := t.in.ByteBuffer()
	if !t.done() {
		return ckrDeviceError
	}
	op, rv := t.takeOp(h, opEncrypt)
	if rv != ckrOK {
		return rv
	}
	if n := op.outLen(); buf < n {
		t.out.ByteArrayLen(n)
		t.putOp(h, op, false)
		return ckrOK
	}
	defer t.putOp(h, op, true)
	padding := protocol.PaddingOAEPSHA256
	if op.mech.typ == ckmRSAPKCS {
		padding = protocol.PaddingPKCS1v15
	}
	resp, rv := t.do(protocol.OpEncrypt, &protocol.EncryptRequest{Alias: op.key.key.Alias,
		Plaintext: append([]byte(nil), pt...), Padding: padding})
	if rv == ckrArgumentsBad {
		return ckrDataLenRange // too long for the key
	}
	if rv != ckrOK {
		return rv
	}
	t.out.ByteArray(resp.(*protocol.EncryptResponse).Ciphertext)
	return ckrOK
}
