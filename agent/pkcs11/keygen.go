package pkcs11

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"slices"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// keygenSpec is what C_GenerateKeyPair's templates ask of the core.
type keygenSpec struct {
	alias     string
	algorithm string
	purposes  []string
	pin       bool // CKA_ALWAYS_AUTHENTICATE: the user PIN becomes the key's PIN
}

// generateKeyPair makes a key in the TPM through the core; CKA_LABEL is
// its alias (required: the store names keys by alias). CKA_ID is the key
// id the core picks; an ID in the templates is ignored.
func (t *task) generateKeyPair() uint64 {
	h := t.in.Ulong()
	m := t.in.Mechanism()
	pubT := t.in.Attributes()
	privT := t.in.Attributes()
	if rv := t.checkSession(h); rv != ckrOK {
		return rv
	}
	spec, rv := keygenTemplates(uint64(m.Type), len(m.Params), pubT, privT)
	if rv != ckrOK {
		return rv
	}
	req := &protocol.GenerateKeyRequest{Alias: spec.alias, Algorithm: spec.algorithm, Purposes: spec.purposes}
	k := &t.c.tok
	if spec.pin {
		k.mu.Lock()
		if !k.loggedIn || len(k.userPIN) == 0 {
			k.mu.Unlock()
			return ckrUserNotLoggedIn
		}
		req.PIN = append([]byte(nil), k.userPIN...)
		k.mu.Unlock()
	}
	resp, rv := t.do(protocol.OpGenerateKey, req)
	if rv != ckrOK {
		return rv
	}
	ki := resp.(*protocol.GenerateKeyResponse).Key
	pub, _ := x509.ParsePKIXPublicKey(ki.PublicKey)
	k.mu.Lock()
	defer k.mu.Unlock()
	var handles [2]uint64
	for i, class := range []uint64{ckoPublicKey, ckoPrivateKey} {
		k.nextObject++
		o := &object{handle: k.nextObject, class: class, key: &ki, pub: pub}
		k.objects[o.handle] = o
		k.handleOf[objectKey{string(ki.KeyID), class}] = o.handle
		handles[i] = o.handle
	}
	t.out.Ulong(handles[0])
	t.out.Ulong(handles[1])
	return ckrOK
}

func keygenTemplates(mech uint64, nParams int, pubT, privT []rpc.Attribute) (keygenSpec, uint64) {
	var s keygenSpec
	if nParams != 0 {
		return s, ckrMechanismParamInvalid
	}
	all := append(slices.Clone(pubT), privT...)
	for _, a := range all {
		if a.Type == ckaLabel && len(a.Value) > 0 {
			s.alias = string(a.Value)
		}
		if a.Type == ckaToken {
			if v, _ := a.Bool(); !v && a.Value != nil {
				return s, ckrTemplateInconsistent // every key is a token object
			}
		}
	}
	if s.alias == "" {
		return s, ckrTemplateIncomplete
	}
	switch mech {
	case ckmECKeyPairGen:
		params := find(all, ckaECParams)
		p256, _ := asn1.Marshal(oidP256)
		p384, _ := asn1.Marshal(oidP384)
		switch {
		case bytes.Equal(params, p256):
			s.algorithm = protocol.AlgECP256
		case bytes.Equal(params, p384):
			s.algorithm = protocol.AlgECP384
		case params == nil:
			return s, ckrTemplateIncomplete
		default:
			return s, ckrAttributeValueInvalid
		}
	case ckmRSAPKCSKeyPairGen:
		bits, _ := rpc.Attribute{Type: ckaModulusBits, Value: find(all, ckaModulusBits)}.Ulong()
		switch bits {
		case 2048:
			s.algorithm = protocol.AlgRSA2048
		case 3072:
			s.algorithm = protocol.AlgRSA3072
		case 0:
			return s, ckrTemplateIncomplete
		default:
			return s, ckrKeySizeRange
		}
		if e := find(all, ckaPublicExponent); e != nil && !bytes.Equal(bytes.TrimLeft(e, "\x00"), []byte{1, 0, 1}) {
			return s, ckrAttributeValueInvalid
		}
	default:
		return s, ckrMechanismInvalid
	}
	s.purposes, s.pin = keygenPurposes(mech, privT)
	return s, ckrOK
}

// keygenPurposes reads the private template: CKA_SIGN (the default),
// CKA_DECRYPT (RSA), CKA_DERIVE (EC) and CKA_ALWAYS_AUTHENTICATE.
func keygenPurposes(mech uint64, privT []rpc.Attribute) ([]string, bool) {
	flag := func(t uint32) (set, v bool) {
		for _, a := range privT {
			if a.Type == t {
				v, ok := a.Bool()
				return ok, v
			}
		}
		return false, false
	}
	var p []string
	if set, v := flag(ckaSign); !set || v {
		p = append(p, protocol.PurposeSign)
	}
	if _, v := flag(ckaDecrypt); v && mech == ckmRSAPKCSKeyPairGen {
		p = append(p, protocol.PurposeDecrypt)
	}
	if _, v := flag(ckaDerive); v && mech == ckmECKeyPairGen {
		p = append(p, protocol.PurposeAgree)
	}
	_, pin := flag(ckaAlwaysAuthenticate)
	return p, pin
}

func find(attrs []rpc.Attribute, typ uint32) []byte {
	for _, a := range attrs {
		if a.Type == typ && !a.Invalid {
			return a.Value
		}
	}
	return nil
}

// maxRandom bounds one C_GenerateRandom; each 1024 bytes are one core call.
const maxRandom = 64 << 10

func (t *task) generateRandom() uint64 {
	h := t.in.Ulong()
	n := t.in.ByteBuffer()
	if rv := t.checkSession(h); rv != ckrOK {
		return rv
	}
	if n > maxRandom {
		return ckrArgumentsBad
	}
	out := make([]byte, 0, n)
	for uint32(len(out)) < n {
		resp, rv := t.do(protocol.OpGetRandom, &protocol.GetRandomRequest{N: uint(min(n-uint32(len(out)), 1024))})
		if rv != ckrOK {
			return rv
		}
		out = append(out, resp.(*protocol.GetRandomResponse).Bytes...)
	}
	t.out.ByteArray(out)
	return ckrOK
}

// seedRandom: the TPM's generator takes no seed from callers.
func (t *task) seedRandom() uint64 {
	t.in.Ulong()
	t.in.ByteArray()
	if !t.done() {
		return ckrDeviceError
	}
	return ckrRandomSeedNotSupported
}
