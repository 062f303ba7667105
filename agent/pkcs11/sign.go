package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// hashOfMech maps CKM_SHA* (PSS's hashAlg) to a hash.
var hashOfMech = map[uint64]crypto.Hash{ckmSHA256: crypto.SHA256, ckmSHA384: crypto.SHA384, ckmSHA512: crypto.SHA512}

// mgfOf is the MGF1 that goes with each hash.
var mgfOf = map[crypto.Hash]uint64{crypto.SHA256: ckgMGF1SHA256, crypto.SHA384: ckgMGF1SHA384, crypto.SHA512: ckgMGF1SHA512}

func wireHash(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return hashSHA1
	case crypto.SHA384:
		return protocol.HashSHA384
	case crypto.SHA512:
		return protocol.HashSHA512
	}
	return protocol.HashSHA256
}

// checkSignMech vets a signing mechanism's parameters. The TPM's PSS uses
// a salt as long as the hash, and MGF1 with that hash: other parameters
// are CKR_MECHANISM_PARAM_INVALID.
func checkSignMech(mi *mechInfo, m rpc.Mechanism, o *object) (crypto.Hash, uint64) {
	if !mi.pss {
		if len(m.Params) != 0 {
			return 0, ckrMechanismParamInvalid
		}
		return 0, ckrOK
	}
	if !m.HasPSS {
		return 0, ckrMechanismParamInvalid
	}
	h, ok := hashOfMech[m.PSS[0]]
	if !ok || (mi.hash != 0 && h != mi.hash) || m.PSS[1] != mgfOf[h] || m.PSS[2] != uint64(h.Size()) {
		return 0, ckrMechanismParamInvalid
	}
	return h, ckrOK
}

func (t *task) signInit() uint64 { return t.startOp(opSign, ckfSign, checkSignMech) }

func (t *task) sign() uint64 {
	h := t.in.Ulong()
	data, _ := t.in.ByteArray()
	buf := t.in.ByteBuffer()
	if !t.done() {
		return ckrDeviceError
	}
	op, rv := t.takeOp(h, opSign)
	if rv != ckrOK {
		return rv
	}
	if n := op.outLen(); buf < n {
		t.out.ByteArrayLen(n) // a size query, or too small: the op goes on
		t.putOp(h, op, false)
		return ckrOK
	}
	op.add(data)
	return t.finishSign(h, op)
}

func (t *task) signUpdate() uint64 { return t.update(opSign) }

func (t *task) signFinal() uint64 {
	h := t.in.Ulong()
	buf := t.in.ByteBuffer()
	if !t.done() {
		return ckrDeviceError
	}
	op, rv := t.takeOp(h, opSign)
	if rv != ckrOK {
		return rv
	}
	if n := op.outLen(); buf < n {
		t.out.ByteArrayLen(n)
		t.putOp(h, op, false)
		return ckrOK
	}
	return t.finishSign(h, op)
}

// finishSign signs the op's input through the core and ends the op.
func (t *task) finishSign(h uint64, op *operation) uint64 {
	defer t.putOp(h, op, true)
	hash, digest, rv := signInput(op)
	if rv != ckrOK {
		return rv
	}
	pin, ok := t.pinFor(op)
	if !ok {
		return ckrUserNotLoggedIn
	}
	resp, rv := t.do(protocol.OpSign, &protocol.SignRequest{Alias: op.key.key.Alias, Digest: digest,
		Hash: wireHash(hash), PSS: op.mech.pss, PIN: pin})
	if rv == ckrArgumentsBad || (hash == crypto.SHA1 && rv == ckrMechanismInvalid) {
		// A SHA-1 DigestInfo the daemon refuses (pkcs11_allow_sha1 off)
		// stays CKR_DATA_INVALID (docs/PKCS11.md §4).
		return ckrDataInvalid
	}
	if rv != ckrOK {
		return rv
	}
	sig := resp.(*protocol.SignResponse).Signature
	if op.mech.keyType == ckkEC {
		raw, ok := rawECDSA(sig, op.outLen()/2)
		if !ok {
			return ckrGeneralError
		}
		sig = raw
	}
	t.out.ByteArray(sig)
	return ckrOK
}

// signInput is the hash and digest the core signs, from the op's input.
func signInput(op *operation) (crypto.Hash, []byte, uint64) {
	if op.h != nil {
		return op.mech.hash, op.h.Sum(nil), ckrOK
	}
	in := op.raw
	switch {
	case op.mech.typ == ckmECDSA:
		return ecdsaDigest(in, op.key.pub.(*ecdsa.PublicKey))
	case op.mech.pss:
		if len(in) != op.pssHash.Size() {
			return 0, nil, ckrDataLenRange
		}
		return op.pssHash, in, ckrOK
	}
	return parseDigestInfo(in)
}

// ecdsaDigest picks the hash the TPM is told for CKM_ECDSA's raw input:
// 32, 48 or 64 bytes are SHA-256, -384 or -512 digests; a shorter input
// (SHA-1, SHA-224) is left-padded with zeros to the curve's size, which
// leaves the integer ECDSA signs unchanged. Anything else is
// CKR_DATA_LEN_RANGE (docs/PKCS11.md §4).
func ecdsaDigest(in []byte, k *ecdsa.PublicKey) (crypto.Hash, []byte, uint64) {
	size := (k.Curve.Params().BitSize + 7) / 8
	switch len(in) {
	case 32:
		return crypto.SHA256, in, ckrOK
	case 48:
		return crypto.SHA384, in, ckrOK
	case 64:
		return crypto.SHA512, in, ckrOK
	}
	if len(in) == 0 || len(in) > size {
		return 0, nil, ckrDataLenRange
	}
	d := make([]byte, size)
	copy(d[size-len(in):], in)
	if size == 48 {
		return crypto.SHA384, d, ckrOK
	}
	return crypto.SHA256, d, ckrOK
}

// hashSHA1 is the core's name for SHA-1 in Sign, which it takes only with
// pkcs11_allow_sha1 (docs/PKCS11.md §4).
const hashSHA1 = "sha1"

// DigestInfo prefixes (RFC 8017 §9.2 note 1) of the hashes the TPM signs.
// SHA-1's goes to the core, which refuses it unless pkcs11_allow_sha1.
var digestInfoPrefixes = []struct {
	h      crypto.Hash
	prefix []byte
}{
	{crypto.SHA1, []byte{0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}},
	{crypto.SHA256, []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}},
	{crypto.SHA384, []byte{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}},
	{crypto.SHA512, []byte{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}},
}

// parseDigestInfo splits CKM_RSA_PKCS's input, a DER DigestInfo, into the
// hash and digest the TPM signs; other input is CKR_DATA_INVALID (the TPM
// makes PKCS #1 v1.5 signatures only over a hash it knows).
func parseDigestInfo(in []byte) (crypto.Hash, []byte, uint64) {
	for _, p := range digestInfoPrefixes {
		if len(in) == len(p.prefix)+p.h.Size() && bytes.HasPrefix(in, p.prefix) {
			return p.h, in[len(p.prefix):], ckrOK
		}
	}
	return 0, nil, ckrDataInvalid
}

// rawECDSA turns a DER ECDSA signature, SEQUENCE { INTEGER r, INTEGER s }
// with short lengths (any signature of a curve up to P-384), into
// PKCS#11's r || s, each n bytes. It reads the DER by hand, without
// reflection or big integers: it is on every ECDSA C_Sign.
func rawECDSA(der []byte, n uint32) ([]byte, bool) {
	if len(der) < 2 || der[0] != 0x30 || der[1] >= 0x80 || int(der[1]) != len(der)-2 {
		return nil, false
	}
	out := make([]byte, 2*n)
	rest := der[2:]
	for i := range 2 {
		v, tail, ok := derPositiveInt(rest)
		if !ok || uint32(len(v)) > n {
			return nil, false
		}
		copy(out[(uint32(i)+1)*n-uint32(len(v)):], v)
		rest = tail
	}
	if len(rest) != 0 {
		return nil, false
	}
	return out, true
}

// derPositiveInt reads a DER INTEGER with a short length that is greater
// than zero, and returns its magnitude without leading zeros.
func derPositiveInt(b []byte) (v, rest []byte, ok bool) {
	if len(b) < 3 || b[0] != 0x02 || b[1] >= 0x80 || int(b[1]) > len(b)-2 || b[1] == 0 {
		return nil, nil, false
	}
	v, rest = b[2:2+int(b[1])], b[2+int(b[1]):]
	if v[0]&0x80 != 0 { // negative
		return nil, nil, false
	}
	if len(v) > 1 && v[0] == 0 && v[1]&0x80 == 0 { // not minimal
		return nil, nil, false
	}
	for len(v) > 0 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 { // zero
		return nil, nil, false
	}
	return v, rest, true
}
