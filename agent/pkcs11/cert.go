package pkcs11

import (
	"crypto/x509"
	"encoding/asn1"
	"math/big"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// listCerts lists the caller's certificates through the core, by key id.
func (t *task) listCerts() (map[string]protocol.CertificateInfo, uint64) {
	out := map[string]protocol.CertificateInfo{}
	cursor := ""
	for {
		resp, rv := t.do(protocol.OpListCertificates, &protocol.ListCertificatesRequest{Cursor: cursor, Limit: protocol.MaxListLimit})
		if rv != ckrOK {
			return nil, rv
		}
		page := resp.(*protocol.ListCertificatesResponse)
		for _, ci := range page.Certificates {
			out[string(ci.KeyID)] = ci
		}
		if page.NextCursor == "" || len(out) >= maxObjects/4 {
			return out, ckrOK
		}
		cursor = page.NextCursor
	}
}

// certAttr answers a CKO_CERTIFICATE's attributes (X.509, PKCS #11 §4.6).
func (o *object) certAttr(typ uint32) (rpc.Attribute, bool) {
	parsed, _ := x509.ParseCertificate(o.cert)
	switch typ {
	case ckaID:
		return rpc.BytesAttr(typ, o.id()), true
	case ckaCertificateType:
		return rpc.UlongAttr(typ, ckcX509), true
	case ckaCertificateCategory:
		return rpc.UlongAttr(typ, 0), true // unspecified
	case ckaTrusted:
		return rpc.BoolAttr(typ, false), true
	case ckaValue:
		return rpc.BytesAttr(typ, o.cert), true
	case ckaStartDate, ckaEndDate:
		return rpc.BytesAttr(typ, nil), true
	}
	if parsed == nil {
		return rpc.Attribute{}, false
	}
	switch typ {
	case ckaSubject:
		return rpc.BytesAttr(typ, parsed.RawSubject), true
	case ckaIssuer:
		return rpc.BytesAttr(typ, parsed.RawIssuer), true
	case ckaSerialNumber:
		b, err := asn1.Marshal(new(big.Int).Set(parsed.SerialNumber))
		if err != nil {
			return rpc.Attribute{}, false
		}
		return rpc.BytesAttr(typ, b), true
	case ckaPublicKeyInfo:
		return rpc.BytesAttr(typ, parsed.RawSubjectPublicKeyInfo), true
	}
	return rpc.Attribute{}, false
}

// deleteCert removes a key's certificate through the core; the key stays.
func (t *task) deleteCert(o *object) uint64 {
	if _, rv := t.do(protocol.OpDeleteCertificate, &protocol.DeleteCertificateRequest{Alias: o.key.Alias}); rv != ckrOK {
		return rv
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.objects, o.handle)
	delete(k.handleOf, objectKey{string(o.key.KeyID), ckoCertificate})
	return ckrOK
}

// createObject stores a CKO_CERTIFICATE (X.509) next to the key whose
// CKA_ID (or, without one, CKA_LABEL) it names, through the core; the core
// checks that it is that key's. Other objects cannot be created.
func (t *task) createObject() uint64 {
	h := t.in.Ulong()
	tmpl := t.in.Attributes()
	if rv := t.checkSession(h); rv != ckrOK {
		return rv
	}
	class, _ := rpc.Attribute{Value: find(tmpl, ckaClass)}.Ulong()
	if class != ckoCertificate {
		return ckrTemplateInconsistent
	}
	if ct := find(tmpl, ckaCertificateType); ct != nil {
		if v, _ := (rpc.Attribute{Value: ct}).Ulong(); v != ckcX509 {
			return ckrTemplateInconsistent
		}
	}
	der := find(tmpl, ckaValue)
	if der == nil {
		return ckrTemplateIncomplete
	}
	alias, rv := t.aliasFor(find(tmpl, ckaID), string(find(tmpl, ckaLabel)))
	if rv != ckrOK {
		return rv
	}
	resp, rv := t.do(protocol.OpPutCertificate, &protocol.PutCertificateRequest{Alias: alias, Certificate: append([]byte(nil), der...)})
	if rv == ckrArgumentsBad {
		return ckrAttributeValueInvalid
	}
	if rv != ckrOK {
		return rv
	}
	ci := resp.(*protocol.PutCertificateResponse).Certificate
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	o := k.certObjectLocked(ci)
	t.out.Ulong(o.handle)
	return ckrOK
}

// aliasFor finds the key a certificate template names, by CKA_ID among the
// listed keys, else by CKA_LABEL.
func (t *task) aliasFor(id []byte, label string) (string, uint64) {
	if id == nil {
		if label == "" {
			return "", ckrTemplateIncomplete
		}
		return label, ckrOK
	}
	if _, rv := t.refresh(0); rv != ckrOK {
		return "", rv
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, o := range k.objects {
		if o.session == 0 && o.key != nil && string(o.key.KeyID) == string(id) && o.class != ckoCertificate {
			return o.key.Alias, ckrOK
		}
	}
	return "", ckrAttributeValueInvalid
}

// certObjectLocked returns the certificate object of ci's key, made or
// updated; the caller holds mu.
func (k *token) certObjectLocked(ci protocol.CertificateInfo) *object {
	ok := objectKey{string(ci.KeyID), ckoCertificate}
	h, found := k.handleOf[ok]
	if !found || k.objects[h] == nil {
		k.nextObject++
		h = k.nextObject
	}
	o := &object{handle: h, class: ckoCertificate, cert: ci.Certificate,
		key: &protocol.KeyInfo{Alias: ci.Alias, KeyID: ci.KeyID}}
	k.objects[o.handle] = o
	k.handleOf[ok] = o.handle
	return o
}
