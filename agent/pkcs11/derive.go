package pkcs11

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/asn1"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// deriveKey serves CKM_ECDH1_DERIVE with CKD_NULL: the TPM computes the
// shared secret, which becomes a session CKO_SECRET_KEY whose CKA_VALUE
// the caller may read (it left the TPM to be derived; docs/PKCS11.md §4).
func (t *task) deriveKey() uint64 {
	h := t.in.Ulong()
	m := t.in.Mechanism()
	kh := t.in.Ulong()
	tmpl := t.in.Attributes()
	if !t.done() {
		return ckrDeviceError
	}
	if m.Type != ckmECDH1Derive {
		return ckrMechanismInvalid
	}
	if !m.HasECDH || m.ECDHKDF != ckdNull || len(m.ECDHSharedData) != 0 {
		return ckrMechanismParamInvalid
	}
	k := &t.c.tok
	k.mu.Lock()
	_, rv := k.sessionLocked(h)
	o, ok := k.objectLocked(kh, h)
	k.mu.Unlock()
	if rv != ckrOK {
		return rv
	}
	if !ok {
		return ckrKeyHandleInvalid
	}
	pub, isEC := o.pub.(*ecdsa.PublicKey)
	if o.class != ckoPrivateKey || !isEC {
		return ckrKeyTypeInconsistent
	}
	peer, rv := peerSPKI(pub, m.ECDHPublicData)
	if rv != ckrOK {
		return rv
	}
	valueLen, rv := deriveTemplate(tmpl)
	if rv != ckrOK {
		return rv
	}
	op := &operation{key: o}
	pin, ok := t.pinFor(op)
	if !ok {
		return ckrUserNotLoggedIn
	}
	resp, rv := t.do(protocol.OpECDH, &protocol.ECDHRequest{Alias: o.key.Alias, PeerPublicKey: peer, PIN: pin})
	if rv == ckrArgumentsBad {
		return ckrMechanismParamInvalid
	}
	if rv != ckrOK {
		return rv
	}
	secret := resp.(*protocol.ECDHResponse).SharedSecret
	if valueLen > uint64(len(secret)) {
		return ckrTemplateInconsistent
	}
	if valueLen > 0 {
		secret = secret[uint64(len(secret))-valueLen:] // PKCS#11: the rightmost bytes
	}
	return t.addSessionSecret(h, o, append([]byte(nil), secret...))
}

// peerSPKI turns CKM_ECDH1_DERIVE's public data, a raw point or a DER
// OCTET STRING holding one, into the DER SubjectPublicKeyInfo the core
// takes.
func peerSPKI(own *ecdsa.PublicKey, data []byte) ([]byte, uint64) {
	var inner []byte
	if rest, err := asn1.Unmarshal(data, &inner); err == nil && len(rest) == 0 && len(inner) > 0 {
		data = inner
	}
	curve, err := own.Curve.Params().Name, error(nil)
	var c ecdh.Curve = ecdh.P256()
	if curve == "P-384" {
		c = ecdh.P384()
	}
	pk, err := c.NewPublicKey(data)
	if err != nil {
		return nil, ckrMechanismParamInvalid
	}
	der, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return nil, ckrMechanismParamInvalid
	}
	return der, ckrOK
}

// deriveTemplate checks the new key's template: a generic secret (or no
// class or type given), session-only; CKA_VALUE_LEN may shorten it.
func deriveTemplate(tmpl []rpc.Attribute) (uint64, uint64) {
	var valueLen uint64
	for _, a := range tmpl {
		switch a.Type {
		case ckaClass:
			if v, _ := a.Ulong(); v != ckoSecretKey {
				return 0, ckrTemplateInconsistent
			}
		case ckaKeyType:
			if v, _ := a.Ulong(); v != ckkGenericSecret {
				return 0, ckrTemplateInconsistent
			}
		case ckaToken:
			if v, _ := a.Bool(); v {
				return 0, ckrTemplateInconsistent // a derived secret is not stored
			}
		case ckaValueLen:
			valueLen, _ = a.Ulong()
		}
	}
	return valueLen, ckrOK
}

func (t *task) addSessionSecret(h uint64, base *object, secret []byte) uint64 {
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, rv := k.sessionLocked(h); rv != ckrOK {
		clear(secret)
		return rv
	}
	n := 0
	for _, o := range k.objects {
		if o.session != 0 {
			n++
		}
	}
	if n >= maxSessionObjects {
		clear(secret)
		return ckrDeviceMemory
	}
	k.nextObject++
	o := &object{handle: k.nextObject, class: ckoSecretKey, secret: secret, session: h,
		key: &protocol.KeyInfo{Alias: base.key.Alias + ".ecdh", KeyID: nil}}
	k.objects[o.handle] = o
	t.out.Ulong(o.handle)
	return ckrOK
}
