package pkcs11

import (
	"strconv"
	"sync"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
)

// The token's fixed identity (docs/PKCS11.md §3).
const (
	slotID            = 1
	tokenLabel        = "tpmkeyd"
	tokenManufacturer = "tpmkeyd"
	tokenModel        = "TPM 2.0 keystore"
	libraryDesc       = "tpmkeyd p11-kit RPC server"
	maxSessions       = 64   // open PKCS#11 sessions per connection
	maxObjects        = 4096 // object handles per connection
	maxSessionObjects = 64   // derived secrets per connection
)

// token is a connection's PKCS#11 state: its sessions, the object
// handles it has been given, and the user PIN of C_Login(CKU_USER).
// mu guards every field; it is never held across a core call.
type token struct {
	mu          sync.Mutex
	serial      string
	initialized bool
	sessions    map[uint64]*session
	nextSession uint64
	objects     map[uint64]*object
	handleOf    map[objectKey]uint64
	nextObject  uint64
	loggedIn    bool
	userPIN     []byte // wiped on C_Logout, C_Finalize and close
}

func (k *token) init(caller *core.Caller) {
	k.serial = "uid" + strconv.FormatUint(uint64(caller.UID), 10)
	k.reset()
}

// reset drops all state; the caller holds mu or has the token alone.
func (k *token) reset() {
	clear(k.userPIN)
	k.userPIN, k.loggedIn = nil, false
	for _, s := range k.sessions {
		s.clearOp()
	}
	k.sessions = map[uint64]*session{}
	k.objects = map[uint64]*object{}
	k.handleOf = map[objectKey]uint64{}
}

func (k *token) isInitialized() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.initialized
}

func (k *token) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reset()
	k.initialized = false
}

// session is one PKCS#11 session. Its fields are guarded by token.mu.
type session struct {
	handle  uint64
	rw      bool
	find    []uint64 // handles still to return from C_FindObjects
	finding bool
	op      *operation // the active sign or decrypt, if any
}

func (s *session) clearOp() {
	if s.op != nil {
		s.op.wipe()
		s.op = nil
	}
}

// sessionLocked returns the session h; the caller holds mu.
func (k *token) sessionLocked(h uint64) (*session, uint64) {
	s, ok := k.sessions[h]
	if !ok {
		return nil, ckrSessionHandleInvalid
	}
	return s, ckrOK
}

func (t *task) initialize() uint64 {
	hs, _ := t.in.ByteArray()
	t.in.Byte()
	t.in.ByteArray()
	if !t.done() {
		return ckrDeviceError
	}
	if string(hs) != "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1" {
		return ckrGeneralError
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.initialized {
		return ckrCryptokiAlreadyInitialized
	}
	k.initialized = true
	return ckrOK
}

func (t *task) finalize() uint64 {
	if !t.done() {
		return ckrDeviceError
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reset()
	k.initialized = false
	return ckrOK
}

func (t *task) getInfo() uint64 {
	if !t.done() {
		return ckrDeviceError
	}
	t.out.Version(2, 40)
	t.out.SpaceString(tokenManufacturer, 32)
	t.out.Ulong(0)
	t.out.SpaceString(libraryDesc, 32)
	t.out.Version(1, 0)
	return ckrOK
}

func (t *task) getSlotList() uint64 {
	t.in.Byte() // token present: the one slot always has its token
	n := t.in.UlongBuffer()
	if !t.done() {
		return ckrDeviceError
	}
	if n == 0 {
		t.out.UlongArrayLen(1)
	} else {
		t.out.UlongArray([]uint64{slotID})
	}
	return ckrOK
}

func (t *task) slotArg() uint64 {
	if id := t.in.Ulong(); id != slotID {
		return ckrSlotIDInvalid
	}
	return ckrOK
}

func (t *task) getSlotInfo() uint64 {
	rv := t.slotArg()
	if !t.done() {
		return ckrDeviceError
	}
	if rv != ckrOK {
		return rv
	}
	t.out.SpaceString("tpmkeyd: keys of the calling user", 64)
	t.out.SpaceString(tokenManufacturer, 32)
	t.out.Ulong(ckfTokenPresent)
	t.out.Version(1, 0)
	t.out.Version(1, 0)
	return ckrOK
}

func (t *task) getTokenInfo() uint64 {
	rv := t.slotArg()
	if !t.done() {
		return ckrDeviceError
	}
	if rv != ckrOK {
		return rv
	}
	k := &t.c.tok
	k.mu.Lock()
	n := uint64(len(k.sessions))
	serial := k.serial
	k.mu.Unlock()
	const unavailable = ^uint64(0) // CK_UNAVAILABLE_INFORMATION
	t.out.SpaceString(tokenLabel, 32)
	t.out.SpaceString(tokenManufacturer, 32)
	t.out.SpaceString(tokenModel, 16)
	t.out.SpaceString(serial, 16)
	t.out.Ulong(ckfRNG | ckfTokenInitialized | ckfUserPINInitialized)
	t.out.Ulong(maxSessions)
	t.out.Ulong(n)
	t.out.Ulong(maxSessions)
	t.out.Ulong(n)
	t.out.Ulong(128) // max PIN length: protocol.MaxPINSize
	t.out.Ulong(0)
	for range 4 {
		t.out.Ulong(unavailable)
	}
	t.out.Version(2, 0)
	t.out.Version(1, 0)
	t.out.SpaceString("", 16) // no clock
	return ckrOK
}

func (t *task) openSession() uint64 {
	rv := t.slotArg()
	flags := t.in.Ulong()
	if !t.done() {
		return ckrDeviceError
	}
	if rv != ckrOK {
		return rv
	}
	if flags&ckfSerialSession == 0 {
		return ckrSessionParallelNotSupported
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.sessions) >= maxSessions {
		return ckrSessionCount
	}
	k.nextSession++
	s := &session{handle: k.nextSession, rw: flags&ckfRWSession != 0}
	k.sessions[s.handle] = s
	t.out.Ulong(s.handle)
	return ckrOK
}

func (t *task) closeSession() uint64 {
	h := t.in.Ulong()
	return t.withSessionLocked(h, func(k *token, s *session) uint64 {
		k.closeSessionLocked(s)
		return ckrOK
	})
}

// closeSessionLocked drops s and its session objects; the last session
// closed logs the user out, as PKCS#11 says.
func (k *token) closeSessionLocked(s *session) {
	s.clearOp()
	delete(k.sessions, s.handle)
	for h, o := range k.objects {
		if o.session == s.handle {
			o.wipe()
			delete(k.objects, h)
		}
	}
	if len(k.sessions) == 0 {
		clear(k.userPIN)
		k.userPIN, k.loggedIn = nil, false
	}
}

func (t *task) closeAllSessions() uint64 {
	rv := t.slotArg()
	if !t.done() {
		return ckrDeviceError
	}
	if rv != ckrOK {
		return rv
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, s := range k.sessions {
		k.closeSessionLocked(s)
	}
	return ckrOK
}

func (t *task) getSessionInfo() uint64 {
	h := t.in.Ulong()
	return t.withSessionLocked(h, func(k *token, s *session) uint64 {
		state, flags := uint64(cksROPublicSession), uint64(ckfSerialSession)
		if s.rw {
			state, flags = cksRWPublicSession, flags|ckfRWSession
		}
		if k.loggedIn {
			state++ // the *_USER_FUNCTIONS state follows its *_PUBLIC_SESSION
		}
		t.out.Ulong(slotID)
		t.out.Ulong(state)
		t.out.Ulong(flags)
		t.out.Ulong(0)
		return ckrOK
	})
}

// login keeps a CKU_USER PIN for the connection's PIN keys, or a
// CKU_CONTEXT_SPECIFIC PIN for the session's active operation. Neither is
// checked here: the TPM checks it, within the core's PIN guard, when the
// operation runs (docs/PKCS11.md §5).
func (t *task) login() uint64 {
	h := t.in.Ulong()
	user := t.in.Ulong()
	pin, _ := t.in.ByteArray()
	if !t.done() {
		return ckrDeviceError
	}
	if len(pin) > 128 {
		return ckrPINLenRange
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	s, rv := k.sessionLocked(h)
	if rv != ckrOK {
		return rv
	}
	switch user {
	case ckuUser:
		if k.loggedIn {
			return ckrUserAlreadyLoggedIn
		}
		k.userPIN, k.loggedIn = append([]byte(nil), pin...), true
	case ckuContextSpecific:
		if s.op == nil {
			return ckrOperationNotInitialized
		}
		clear(s.op.pin)
		s.op.pin = append([]byte(nil), pin...)
	case ckuSO:
		return ckrFunctionRejected // there is no security officer
	default:
		return ckrUserTypeInvalid
	}
	return ckrOK
}

func (t *task) logout() uint64 {
	h := t.in.Ulong()
	if !t.done() {
		return ckrDeviceError
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, rv := k.sessionLocked(h); rv != ckrOK {
		return rv
	}
	if !k.loggedIn {
		return ckrUserNotLoggedIn
	}
	clear(k.userPIN)
	k.userPIN, k.loggedIn = nil, false
	return ckrOK
}

// withSessionLocked checks that the request was read whole, then runs fn
// with the token locked and h's session; an unknown handle is its CK_RV.
func (t *task) withSessionLocked(h uint64, fn func(k *token, s *session) uint64) uint64 {
	if !t.done() {
		return ckrDeviceError
	}
	k := &t.c.tok
	k.mu.Lock()
	defer k.mu.Unlock()
	s, rv := k.sessionLocked(h)
	if rv != ckrOK {
		return rv
	}
	return fn(k, s)
}

// checkSession checks that the request was read whole and that h is an open
// session, for a call that then works without the token's lock (one that
// goes to the core).
func (t *task) checkSession(h uint64) uint64 {
	return t.withSessionLocked(h, func(*token, *session) uint64 { return ckrOK })
}
