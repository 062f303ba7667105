package pkcs11

import (
	"crypto"
	"slices"
)

// mechInfo is one mechanism of the token: CK_MECHANISM_INFO, and what the
// token needs to serve it.
type mechInfo struct {
	typ     uint64
	minBits uint64
	maxBits uint64
	flags   uint64
	keyType uint64      // ckkEC or ckkRSA
	hash    crypto.Hash // the hash the front end computes (0: the caller gives the input)
	pss     bool
}

const ecFlags = ckfECFp | ckfECNamedCurve | ckfECUncompress

// mechanisms is the token's mechanism list (docs/PKCS11.md §4), in the
// order C_GetMechanismList gives it.
var mechanisms = []mechInfo{
	{typ: ckmECKeyPairGen, minBits: 256, maxBits: 384, flags: ckfHW | ckfGenerateKeyPair | ecFlags, keyType: ckkEC},
	{typ: ckmECDSA, minBits: 256, maxBits: 384, flags: ckfHW | ckfSign | ckfVerify | ecFlags, keyType: ckkEC},
	{typ: ckmECDSASHA256, minBits: 256, maxBits: 384, flags: ckfHW | ckfSign | ckfVerify | ecFlags, keyType: ckkEC, hash: crypto.SHA256},
	{typ: ckmECDSASHA384, minBits: 256, maxBits: 384, flags: ckfHW | ckfSign | ckfVerify | ecFlags, keyType: ckkEC, hash: crypto.SHA384},
	{typ: ckmECDSASHA512, minBits: 256, maxBits: 384, flags: ckfHW | ckfSign | ckfVerify | ecFlags, keyType: ckkEC, hash: crypto.SHA512},
	{typ: ckmECDH1Derive, minBits: 256, maxBits: 384, flags: ckfHW | ckfDerive | ecFlags, keyType: ckkEC},
	{typ: ckmRSAPKCSKeyPairGen, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfGenerateKeyPair, keyType: ckkRSA},
	{typ: ckmRSAPKCS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify | ckfDecrypt | ckfEncrypt, keyType: ckkRSA},
	{typ: ckmSHA256RSAPKCS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify, keyType: ckkRSA, hash: crypto.SHA256},
	{typ: ckmSHA384RSAPKCS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify, keyType: ckkRSA, hash: crypto.SHA384},
	{typ: ckmSHA512RSAPKCS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify, keyType: ckkRSA, hash: crypto.SHA512},
	{typ: ckmRSAPKCSPSS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify, keyType: ckkRSA, pss: true},
	{typ: ckmSHA256RSAPKCSPSS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify, keyType: ckkRSA, hash: crypto.SHA256, pss: true},
	{typ: ckmSHA384RSAPKCSPSS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify, keyType: ckkRSA, hash: crypto.SHA384, pss: true},
	{typ: ckmSHA512RSAPKCSPSS, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfSign | ckfVerify, keyType: ckkRSA, hash: crypto.SHA512, pss: true},
	{typ: ckmRSAPKCSOAEP, minBits: 2048, maxBits: 3072, flags: ckfHW | ckfDecrypt | ckfEncrypt, keyType: ckkRSA},
}

func lookupMech(typ uint64) (*mechInfo, bool) {
	i := slices.IndexFunc(mechanisms, func(m mechInfo) bool { return m.typ == typ })
	if i < 0 {
		return nil, false
	}
	return &mechanisms[i], true
}

func (t *task) getMechanismList() uint64 {
	rv := t.slotArg()
	n := t.in.UlongBuffer()
	if !t.done() {
		return ckrDeviceError
	}
	if rv != ckrOK {
		return rv
	}
	if n < uint32(len(mechanisms)) {
		t.out.UlongArrayLen(uint32(len(mechanisms)))
		return ckrOK
	}
	list := make([]uint64, len(mechanisms))
	for i, m := range mechanisms {
		list[i] = m.typ
	}
	t.out.UlongArray(list)
	return ckrOK
}

func (t *task) getMechanismInfo() uint64 {
	rv := t.slotArg()
	typ := t.in.Ulong()
	if !t.done() {
		return ckrDeviceError
	}
	if rv != ckrOK {
		return rv
	}
	m, ok := lookupMech(typ)
	if !ok {
		return ckrMechanismInvalid
	}
	t.out.Ulong(m.minBits)
	t.out.Ulong(m.maxBits)
	t.out.Ulong(m.flags)
	return ckrOK
}
