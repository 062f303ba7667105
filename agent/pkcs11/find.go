package pkcs11

import (
	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

func (t *task) findObjectsInit() uint64 {
	h := t.in.Ulong()
	tmpl := t.in.Attributes()
	if !t.done() {
		return ckrDeviceError
	}
	k := &t.c.tok
	k.mu.Lock()
	s, rv := k.sessionLocked(h)
	if rv == ckrOK && s.finding {
		rv = ckrOperationActive
	}
	k.mu.Unlock()
	if rv != ckrOK {
		return rv
	}
	all, rv := t.refresh(h)
	if rv != ckrOK {
		return rv
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if s, rv = k.sessionLocked(h); rv != ckrOK {
		return rv
	}
	s.find, s.finding = s.find[:0], true
	for _, oh := range all {
		if o, ok := k.objectLocked(oh, h); ok && o.matches(tmpl) {
			s.find = append(s.find, oh)
		}
	}
	return ckrOK
}

func (t *task) findObjects() uint64 {
	h := t.in.Ulong()
	max := t.in.UlongBuffer()
	return t.withSessionLocked(h, func(k *token, s *session) uint64 {
		if !s.finding {
			return ckrOperationNotInitialized
		}
		n := min(int(max), len(s.find))
		out := make([]uint64, n)
		copy(out, s.find)
		s.find = s.find[n:]
		t.out.UlongArray(out)
		return ckrOK
	})
}

func (t *task) findObjectsFinal() uint64 {
	h := t.in.Ulong()
	return t.withSessionLocked(h, func(k *token, s *session) uint64 {
		if !s.finding {
			return ckrOperationNotInitialized
		}
		s.find, s.finding = nil, false
		return ckrOK
	})
}

// getAttributeValue answers every attribute asked for; the call's result
// is the first of CKR_ATTRIBUTE_SENSITIVE, CKR_ATTRIBUTE_TYPE_INVALID,
// CKR_BUFFER_TOO_SMALL met, as PKCS#11 says (the others are still filled).
func (t *task) getAttributeValue() uint64 {
	h := t.in.Ulong()
	oh := t.in.Ulong()
	reqs := t.in.AttrBuffer()
	if !t.done() {
		return ckrDeviceError
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, rv := k.sessionLocked(h); rv != ckrOK {
		return rv
	}
	o, ok := k.objectLocked(oh, h)
	if !ok {
		return ckrObjectHandleInvalid
	}
	attrs := make([]rpc.Attribute, len(reqs))
	sizeOnly := make([]bool, len(reqs))
	result := uint64(ckrOK)
	for i, r := range reqs {
		a, rv := o.attribute(r.Type)
		if rv == ckrOK && r.BufLen != 0 && r.BufLen < uint32(len(a.Value)) {
			rv = ckrBufferTooSmall
		}
		if rv == ckrOK || rv == ckrBufferTooSmall {
			sizeOnly[i] = r.BufLen < uint32(len(a.Value))
		}
		if rv != ckrOK && result == ckrOK {
			result = rv
		}
		attrs[i] = a
		if o.secret != nil && r.Type == ckaValue && !sizeOnly[i] {
			t.sensitive = true
		}
	}
	t.out.Attributes(attrs, sizeOnly)
	t.out.Ulong(result)
	return ckrOK
}

// destroyObject deletes a key (both its halves) through the core, or
// drops a session secret.
func (t *task) destroyObject() uint64 {
	h := t.in.Ulong()
	oh := t.in.Ulong()
	if !t.done() {
		return ckrDeviceError
	}
	k := &t.c.tok
	k.mu.Lock()
	_, rv := k.sessionLocked(h)
	o, ok := k.objectLocked(oh, h)
	if rv == ckrOK && !ok {
		rv = ckrObjectHandleInvalid
	}
	if rv == ckrOK && o.session != 0 {
		o.wipe()
		delete(k.objects, oh)
	}
	k.mu.Unlock()
	if rv != ckrOK || o.session != 0 {
		return rv
	}
	if o.class == ckoCertificate {
		return t.deleteCert(o)
	}
	if _, rv := t.do(protocol.OpDeleteKey, &protocol.DeleteKeyRequest{Alias: o.key.Alias}); rv != ckrOK {
		return rv
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, class := range []uint64{ckoPrivateKey, ckoPublicKey, ckoSecretKey, ckoCertificate} {
		ok := objectKey{string(o.key.KeyID), class}
		if hh, found := k.handleOf[ok]; found {
			delete(k.objects, hh)
			delete(k.handleOf, ok)
		}
	}
	return ckrOK
}
