package pkcs11

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"slices"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// objectKey names a token object across refreshes, so that its handle
// stays the same for the life of the connection.
type objectKey struct {
	keyID string
	class uint64
}

// object is one PKCS#11 object: a key's private or public half, or its
// certificate (token objects, made from the core's KeyInfo), or a secret
// that C_DeriveKey made (a session object).
// Its fields other than gone are never changed once it is in the token's
// table, so an operation may use the object outside token.mu; a refresh
// replaces it. gone is guarded by token.mu.
type object struct {
	handle  uint64
	class   uint64
	key     *protocol.KeyInfo
	pub     any    // *ecdsa.PublicKey or *rsa.PublicKey, parsed from key.PublicKey
	cert    []byte // DER, for a certificate
	secret  []byte // the derived value, for a session secret; wiped with the session
	session uint64 // the session a session object belongs to (0: a token object)
	gone    bool   // the key was not in the last listing
}

func (o *object) wipe() { clear(o.secret) }

// Curve OIDs (RFC 5480) as CKA_EC_PARAMS holds them.
var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
)

func curveParams(c elliptic.Curve) []byte {
	oid := oidP256
	if c == elliptic.P384() {
		oid = oidP384
	}
	b, _ := asn1.Marshal(oid)
	return b
}

// ecPoint is CKA_EC_POINT: the uncompressed point in a DER OCTET STRING.
func ecPoint(k *ecdsa.PublicKey) []byte {
	raw, _ := k.Bytes()
	b, _ := asn1.Marshal(raw)
	return b
}

func keyClasses(k *protocol.KeyInfo) []uint64 {
	switch k.Algorithm {
	case protocol.AlgECP256, protocol.AlgECP384, protocol.AlgRSA2048, protocol.AlgRSA3072:
		return []uint64{ckoPrivateKey, ckoPublicKey}
	case protocol.AlgHMACSHA256, protocol.AlgAES256GCM:
		return []uint64{ckoSecretKey}
	}
	return nil // sealed secrets are not PKCS#11 objects
}

// refresh lists the caller's keys through the core and updates the token
// objects; it returns the handles of every object now visible to sess.
func (t *task) refresh(sess uint64) ([]uint64, uint64) {
	var keys []protocol.KeyInfo
	cursor := ""
	for {
		resp, rv := t.do(protocol.OpListKeys, &protocol.ListKeysRequest{Cursor: cursor, Limit: protocol.MaxListLimit})
		if rv != ckrOK {
			return nil, rv
		}
		page := resp.(*protocol.ListKeysResponse)
		keys = append(keys, page.Keys...)
		if page.NextCursor == "" || len(keys) >= maxObjects/2 {
			break
		}
		cursor = page.NextCursor
	}
	certs, rv := t.listCerts()
	if rv != ckrOK {
		return nil, rv
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range k.objects {
		if o.session == 0 {
			o.gone = true
		}
	}
	for i := range keys {
		ki := &keys[i]
		pub, _ := x509.ParsePKIXPublicKey(ki.PublicKey)
		for _, class := range keyClasses(ki) {
			ok := objectKey{string(ki.KeyID), class}
			if h, found := k.handleOf[ok]; found && k.objects[h] != nil {
				// A new object under the same handle: an operation in
				// flight keeps the one it started with (objects are never
				// changed once made; see object).
				k.objects[h] = &object{handle: h, class: class, key: ki, pub: pub}
				continue
			}
			if len(k.objects) >= maxObjects {
				break
			}
			k.nextObject++
			o := &object{handle: k.nextObject, class: class, key: ki, pub: pub}
			k.objects[o.handle] = o
			k.handleOf[ok] = o.handle
		}
		if ci, found := certs[string(ki.KeyID)]; found && len(k.objects) < maxObjects {
			k.certObjectLocked(ci)
		}
	}
	var hs []uint64
	for h, o := range k.objects {
		if o.gone {
			delete(k.objects, h)
			delete(k.handleOf, objectKey{string(o.key.KeyID), o.class})
			continue
		}
		if o.session == 0 || o.session == sess {
			hs = append(hs, h)
		}
	}
	slices.Sort(hs)
	return hs, ckrOK
}

// objectLocked returns the object h as seen from session sess.
func (k *token) objectLocked(h, sess uint64) (*object, bool) {
	o, ok := k.objects[h]
	if !ok || (o.session != 0 && o.session != sess) {
		return nil, false
	}
	return o, true
}

// attribute answers one attribute of o: its value, or CKR_ATTRIBUTE_SENSITIVE
// or CKR_ATTRIBUTE_TYPE_INVALID.
func (o *object) attribute(typ uint32) (rpc.Attribute, uint64) {
	if v, ok := o.commonAttr(typ); ok {
		return v, ckrOK
	}
	var v rpc.Attribute
	var ok bool
	switch o.class {
	case ckoPrivateKey:
		v, ok = o.privateAttr(typ)
	case ckoPublicKey:
		v, ok = o.publicAttr(typ)
	case ckoSecretKey:
		v, ok = o.secretAttr(typ)
	case ckoCertificate:
		v, ok = o.certAttr(typ)
	}
	if ok {
		return v, ckrOK
	}
	if o.sensitive(typ) {
		return rpc.Attribute{Type: typ, Invalid: true}, ckrAttributeSensitive
	}
	return rpc.Attribute{Type: typ, Invalid: true}, ckrAttributeTypeInvalid
}

func (o *object) sensitive(typ uint32) bool {
	switch o.class {
	case ckoPrivateKey:
		return slices.Contains([]uint32{ckaValue, ckaPrivateExponent, ckaPrime1, ckaPrime2,
			ckaExponent1, ckaExponent2, ckaCoefficient}, typ)
	case ckoSecretKey:
		return typ == ckaValue && o.secret == nil
	}
	return false
}

func (o *object) label() string {
	if o.key != nil {
		return o.key.Alias
	}
	return ""
}

func (o *object) id() []byte {
	if o.key != nil {
		return o.key.KeyID
	}
	return nil
}

// generated reports whether this TPM made the key (CKA_LOCAL).
func (o *object) generated() bool {
	return o.key != nil && (o.key.Origin == "" || o.key.Origin == protocol.OriginGenerated)
}

func (o *object) hasPurpose(p string) bool {
	return o.key != nil && slices.Contains(o.key.Purposes, p)
}

func (o *object) commonAttr(typ uint32) (rpc.Attribute, bool) {
	switch typ {
	case ckaClass:
		return rpc.UlongAttr(typ, o.class), true
	case ckaToken:
		return rpc.BoolAttr(typ, o.session == 0), true
	case ckaPrivate:
		return rpc.BoolAttr(typ, o.class == ckoPrivateKey || o.class == ckoSecretKey), true
	case ckaLabel:
		return rpc.BytesAttr(typ, []byte(o.label())), true
	case ckaModifiable, ckaCopyable:
		return rpc.BoolAttr(typ, false), true
	case ckaDestroyable:
		return rpc.BoolAttr(typ, true), true
	}
	if o.class == ckoCertificate {
		return rpc.Attribute{}, false
	}
	// Key objects.
	switch typ {
	case ckaID:
		return rpc.BytesAttr(typ, o.id()), true
	case ckaKeyType:
		return rpc.UlongAttr(typ, o.keyType()), true
	case ckaLocal:
		return rpc.BoolAttr(typ, o.session == 0 && o.generated()), true
	case ckaDerive:
		return rpc.BoolAttr(typ, o.class == ckoPrivateKey && o.hasPurpose(protocol.PurposeAgree)), true
	case ckaStartDate, ckaEndDate:
		return rpc.BytesAttr(typ, nil), true
	case ckaKeyGenMechanism:
		switch o.keyType() {
		case ckkEC:
			return rpc.UlongAttr(typ, ckmECKeyPairGen), true
		case ckkRSA:
			return rpc.UlongAttr(typ, ckmRSAPKCSKeyPairGen), true
		}
		return rpc.UlongAttr(typ, ^uint64(0)), true
	}
	if o.class == ckoSecretKey {
		return rpc.Attribute{}, false
	}
	return o.publicParts(typ)
}

// publicParts are the public key's attributes, on both halves.
func (o *object) publicParts(typ uint32) (rpc.Attribute, bool) {
	switch k := o.pub.(type) {
	case *ecdsa.PublicKey:
		switch typ {
		case ckaECParams:
			return rpc.BytesAttr(typ, curveParams(k.Curve)), true
		case ckaECPoint:
			return rpc.BytesAttr(typ, ecPoint(k)), true
		}
	case *rsa.PublicKey:
		switch typ {
		case ckaModulus:
			return rpc.BytesAttr(typ, k.N.Bytes()), true
		case ckaModulusBits:
			return rpc.UlongAttr(typ, uint64(k.N.BitLen())), true
		case ckaPublicExponent:
			return rpc.BytesAttr(typ, big.NewInt(int64(k.E)).Bytes()), true
		}
	}
	if typ == ckaPublicKeyInfo && o.key != nil {
		return rpc.BytesAttr(typ, o.key.PublicKey), true
	}
	if typ == ckaSubject {
		return rpc.BytesAttr(typ, nil), true
	}
	return rpc.Attribute{}, false
}

func (o *object) keyType() uint64 {
	switch o.pub.(type) {
	case *ecdsa.PublicKey:
		return ckkEC
	case *rsa.PublicKey:
		return ckkRSA
	}
	if o.key != nil && o.key.Algorithm == protocol.AlgHMACSHA256 {
		return ckkSHA256HMAC
	}
	if o.key != nil && o.key.Algorithm == protocol.AlgAES256GCM {
		return ckkAES
	}
	return ckkGenericSecret
}

func (o *object) privateAttr(typ uint32) (rpc.Attribute, bool) {
	switch typ {
	case ckaSensitive:
		return rpc.BoolAttr(typ, true), true
	case ckaAlwaysSensitive:
		return rpc.BoolAttr(typ, o.key.Origin != protocol.OriginImported), true
	case ckaNeverExtractable:
		return rpc.BoolAttr(typ, o.key.Origin != protocol.OriginImported && len(o.key.ExportableTo) == 0), true
	case ckaExtractable:
		// ExportKey may wrap it for the one TPM it names.
		return rpc.BoolAttr(typ, len(o.key.ExportableTo) > 0), true
	case ckaSignRecover, ckaUnwrap, ckaWrapWithTrusted:
		return rpc.BoolAttr(typ, false), true
	case ckaSign:
		return rpc.BoolAttr(typ, o.hasPurpose(protocol.PurposeSign)), true
	case ckaDecrypt:
		return rpc.BoolAttr(typ, o.hasPurpose(protocol.PurposeDecrypt)), true
	case ckaAlwaysAuthenticate:
		return rpc.BoolAttr(typ, o.key.HasPIN), true
	}
	return rpc.Attribute{}, false
}

func (o *object) publicAttr(typ uint32) (rpc.Attribute, bool) {
	switch typ {
	case ckaVerify:
		return rpc.BoolAttr(typ, o.hasPurpose(protocol.PurposeSign)), true
	case ckaEncrypt:
		return rpc.BoolAttr(typ, o.hasPurpose(protocol.PurposeDecrypt)), true
	case ckaWrap, ckaVerifyRecover, ckaTrusted:
		return rpc.BoolAttr(typ, false), true
	}
	return rpc.Attribute{}, false
}

func (o *object) secretAttr(typ uint32) (rpc.Attribute, bool) {
	tpmHeld := o.secret == nil
	switch typ {
	case ckaSensitive, ckaAlwaysSensitive, ckaNeverExtractable:
		return rpc.BoolAttr(typ, tpmHeld), true
	case ckaExtractable:
		return rpc.BoolAttr(typ, !tpmHeld), true
	case ckaSign, ckaVerify:
		return rpc.BoolAttr(typ, tpmHeld && o.hasPurpose(protocol.PurposeMAC)), true
	case ckaEncrypt, ckaDecrypt, ckaWrap, ckaUnwrap:
		return rpc.BoolAttr(typ, false), true
	case ckaValueLen:
		if tpmHeld {
			return rpc.UlongAttr(typ, 32), true
		}
		return rpc.UlongAttr(typ, uint64(len(o.secret))), true
	case ckaValue:
		if !tpmHeld {
			return rpc.BytesAttr(typ, o.secret), true
		}
	}
	return rpc.Attribute{}, false
}

// matches reports whether o has every attribute of tmpl with its value.
func (o *object) matches(tmpl []rpc.Attribute) bool {
	for _, want := range tmpl {
		got, rv := o.attribute(want.Type)
		if rv != ckrOK || want.Invalid || !sameValue(want, got) {
			return false
		}
	}
	return true
}

func sameValue(want, got rpc.Attribute) bool {
	if wb, ok := want.Bool(); ok {
		if gb, ok := got.Bool(); ok {
			return wb == gb
		}
	}
	return bytes.Equal(want.Value, got.Value)
}
