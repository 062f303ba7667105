package pkcs11

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"hash"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
)

// maxRawInput bounds what C_SignUpdate may gather for a mechanism that
// takes its input whole (a digest or a DigestInfo): the longest valid
// input is far shorter.
const maxRawInput = 1024

const (
	opSign = iota + 1
	opDecrypt
	opVerify
	opEncrypt
)

// takesPublic tells the kinds of operation that use only the public key:
// they take a CKO_PUBLIC_KEY object (or its private half).
func takesPublic(kind int) bool { return kind == opVerify || kind == opEncrypt }

// operation is a session's active C_SignInit, C_DecryptInit,
// C_VerifyInit or C_EncryptInit, guarded by token.mu.
type operation struct {
	kind    int
	mech    *mechInfo
	pssHash crypto.Hash // CKM_RSA_PKCS_PSS: the hash its parameters name
	key     *object
	pin     []byte    // C_Login(CKU_CONTEXT_SPECIFIC); wiped with the op
	h       hash.Hash // running hash of a hashing mechanism's multi-part input
	raw     []byte    // multi-part input of a raw mechanism
	pending []byte    // a plaintext answered "buffer too small", kept for the retry
	busy    bool      // a core call of this op is running
}

func (op *operation) wipe() {
	clear(op.pin)
	clear(op.pending)
	clear(op.raw)
}

// outLen is the size of the operation's output, known without the TPM:
// the signature, or for a decryption the modulus (an upper bound).
func (op *operation) outLen() uint32 {
	switch k := op.key.pub.(type) {
	case *ecdsa.PublicKey:
		return 2 * uint32((k.Curve.Params().BitSize+7)/8)
	case *rsa.PublicKey:
		return uint32(k.Size())
	}
	return 0
}

// startOp reads (session, mechanism, key) and makes the session's op of
// kind; check vets the mechanism and key.
func (t *task) startOp(kind int, want uint64, check func(*mechInfo, rpc.Mechanism, *object) (crypto.Hash, uint64)) uint64 {
	h := t.in.Ulong()
	m := t.in.Mechanism()
	kh := t.in.Ulong()
	return t.withSessionLocked(h, func(k *token, s *session) uint64 {
		if s.op != nil {
			return ckrOperationActive
		}
		mi, ok := lookupMech(uint64(m.Type))
		if !ok || mi.flags&want == 0 {
			return ckrMechanismInvalid
		}
		o, ok := k.objectLocked(kh, h)
		if !ok {
			return ckrKeyHandleInvalid
		}
		if (o.class != ckoPrivateKey && (o.class != ckoPublicKey || !takesPublic(kind))) || o.keyType() != mi.keyType {
			return ckrKeyTypeInconsistent
		}
		pssHash, rv := check(mi, m, o)
		if rv != ckrOK {
			return rv
		}
		s.op = &operation{kind: kind, mech: mi, pssHash: pssHash, key: o}
		if mi.hash != 0 {
			s.op.h = mi.hash.New()
		}
		return ckrOK
	})
}

// takeOp returns the session's op of kind, marked busy so that a second
// thread on the same session waits its turn (CKR_OPERATION_ACTIVE).
func (t *task) takeOp(h uint64, kind int) (*operation, uint64) {
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	s, rv := k.sessionLocked(h)
	if rv != ckrOK {
		return nil, rv
	}
	if s.op == nil || s.op.kind != kind {
		return nil, ckrOperationNotInitialized
	}
	if s.op.busy {
		return nil, ckrOperationActive
	}
	s.op.busy = true
	return s.op, ckrOK
}

// putOp ends the op's turn; end drops it (the operation is over).
func (t *task) putOp(h uint64, op *operation, end bool) {
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	op.busy = false
	s, ok := k.sessions[h]
	if !ok || s.op != op {
		op.wipe()
		return
	}
	if end {
		s.clearOp()
	}
}

// pinFor is the PIN for op's key: the context-specific one, else the
// user PIN, as a copy the core wipes. ok is false for a PIN key with no
// PIN given.
func (t *task) pinFor(op *operation) ([]byte, bool) {
	if !op.key.key.HasPIN {
		return nil, true
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case op.pin != nil:
		return append([]byte(nil), op.pin...), true
	case k.loggedIn:
		return append([]byte(nil), k.userPIN...), true
	}
	return nil, false
}

// add feeds data to the operation: hashed as it comes for a hashing
// mechanism, else kept for the one call to the core.
func (op *operation) add(data []byte) {
	if op.h != nil {
		op.h.Write(data)
	} else {
		op.raw = append(op.raw, data...)
	}
}

// update is C_SignUpdate and C_VerifyUpdate: a part of the data of the
// session's operation of that kind. Unhashed data is kept only up to
// maxRawInput; more ends the operation with CKR_DATA_LEN_RANGE.
func (t *task) update(kind int) uint64 {
	h := t.in.Ulong()
	data, _ := t.in.ByteArray()
	if !t.done() {
		return ckrDeviceError
	}
	op, rv := t.takeOp(h, kind)
	if rv != ckrOK {
		return rv
	}
	if op.h == nil && len(op.raw)+len(data) > maxRawInput {
		t.putOp(h, op, true)
		return ckrDataLenRange
	}
	op.add(data)
	t.putOp(h, op, false)
	return ckrOK
}
