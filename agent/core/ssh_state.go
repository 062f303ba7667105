package core

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"sync"
	"time"
)

// sshState is what the ssh operations keep in daemon memory, never on
// disk: the per-uid agent lock (ssh-add -x) and the PIN authorizations
// cached by `tpmkey ssh unlock` for a bounded time. A lock clears the
// uid's cached authorizations; an expiry clears its own; Core.Close clears
// them all.
type sshState struct {
	mu    sync.Mutex               // guards locks, pins, confirms and nconfirms
	locks map[uint32]*agentLock    // by uid
	pins  map[pinCacheKey]*pinAuth // by uid and key id
	// confirms counts the ssh-add -c prompts running, by owner
	// (ssh_confirm.go); nconfirms is their sum.
	confirms  map[uint32]int
	nconfirms int
}

// agentLock is a locked agent: the passphrase is kept as a salted SHA-256,
// compared in constant time.
type agentLock struct {
	salt [16]byte
	hash [32]byte
}

type pinCacheKey struct {
	uid   uint32
	keyID [16]byte
}

// pinAuth is one cached TPM auth value (derived from the PIN; never the
// PIN itself) and when it ends. auth lives in its own mlock'ed page,
// excluded from core dumps (lockedArena), when the kernel allows it.
type pinAuth struct {
	auth  []byte
	arena []byte // the mapping auth is in; nil when on the heap
	until time.Time
	timer *time.Timer
}

// Bounds of the cache: no uid fills it for the others.
const (
	maxPINsPerUID = 32
	maxPINs       = 1024
)

// maxPINCache bounds how long one unlock lasts.
const (
	defaultPINCache = 15 * time.Minute
	maxPINCache     = 24 * time.Hour
)

func newSSHState() *sshState {
	return &sshState{locks: map[uint32]*agentLock{}, pins: map[pinCacheKey]*pinAuth{}, confirms: map[uint32]int{}}
}

func lockHash(salt []byte, pass []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("tpmkeyd agent lock\x00"))
	h.Write(salt)
	h.Write(pass)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// locked reports whether uid's agent is locked.
func (s *sshState) locked(uid uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locks[uid] != nil
}

// lock locks uid's agent under pass and drops its cached PINs; a locked
// agent is not locked again (ssh-agent answers failure too).
func (s *sshState) lock(uid uint32, pass []byte) bool {
	l := &agentLock{}
	rand.Read(l.salt[:])
	l.hash = lockHash(l.salt[:], pass)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locks[uid] != nil {
		return false
	}
	s.locks[uid] = l
	for k, p := range s.pins {
		if k.uid == uid {
			s.dropLocked(k, p)
		}
	}
	return true
}

// unlock unlocks uid's agent if pass is the lock's passphrase.
func (s *sshState) unlock(uid uint32, pass []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.locks[uid]
	if l == nil {
		return false
	}
	h := lockHash(l.salt[:], pass)
	if subtle.ConstantTimeCompare(h[:], l.hash[:]) != 1 {
		return false
	}
	delete(s.locks, uid)
	return true
}

// cachePIN keeps a copy of auth for d; a previous entry is replaced. It
// fails with ErrBusy when uid, or everyone, has too many cached.
func (s *sshState) cachePIN(uid uint32, keyID [16]byte, auth []byte, d time.Duration) (time.Time, error) {
	k := pinCacheKey{uid, keyID}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.pins[k]; old != nil {
		s.dropLocked(k, old)
	}
	mine := 0
	for pk := range s.pins {
		if pk.uid == uid {
			mine++
		}
	}
	if mine >= maxPINsPerUID || len(s.pins) >= maxPINs {
		return time.Time{}, fmt.Errorf("too many PIN keys unlocked for ssh: %w", ErrBusy)
	}
	p := &pinAuth{until: time.Now().Add(d)}
	arena, mapped, _ := lockedArena(len(auth))
	if mapped {
		p.arena = arena
	}
	p.auth = arena[:len(auth)]
	copy(p.auth, auth)
	s.pins[k] = p
	p.timer = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.pins[k] == p {
			s.dropLocked(k, p)
		}
	})
	return p.until, nil
}

// cachedPIN returns a copy of the cached auth value (the caller wipes it)
// and when it ends; ok is false when none is cached.
func (s *sshState) cachedPIN(uid uint32, keyID [16]byte) (auth []byte, until time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pins[pinCacheKey{uid, keyID}]
	if p == nil || !time.Now().Before(p.until) {
		return nil, time.Time{}, false
	}
	return append([]byte(nil), p.auth...), p.until, true
}

// forgetPIN drops a cached auth value.
func (s *sshState) forgetPIN(uid uint32, keyID [16]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := pinCacheKey{uid, keyID}
	if p := s.pins[k]; p != nil {
		s.dropLocked(k, p)
	}
}

// clear drops every cached auth value and lock (the daemon stops).
func (s *sshState) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, p := range s.pins {
		s.dropLocked(k, p)
	}
	clear(s.locks)
}

func (s *sshState) dropLocked(k pinCacheKey, p *pinAuth) {
	if p.timer != nil {
		p.timer.Stop()
	}
	clear(p.auth)
	if p.arena != nil {
		freeArena(p.arena)
	}
	delete(s.pins, k)
}
