package core

import (
	"errors"
	"fmt"
	"sync"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
)

// reservations hold a key slot and an alias from the moment a create is
// admitted until its record is stored or refused, so that neither a full
// quota nor a taken alias costs any TPM work: with a quota of 1, twelve
// concurrent keygens do one keygen and eleven immediate refusals.
type reservations struct {
	mu      sync.Mutex
	pending map[uint32]int             // guarded by mu: creates in flight per login
	aliases map[reservedAlias]struct{} // guarded by mu
	logins  map[uint32]*loginLock      // guarded by mu: held while a login's keys are counted
}

// loginLock serialises one login's quota checks, which may read the store
// (CountAll, for a login with subordinate uids), so that no other login's
// creates wait behind that I/O.
type loginLock struct {
	mu   sync.Mutex
	refs int // guarded by reservations.mu
}

type reservedAlias struct {
	uid   uint32
	alias string
}

func newReservations() *reservations {
	return &reservations{pending: map[uint32]int{}, aliases: map[reservedAlias]struct{}{},
		logins: map[uint32]*loginLock{}}
}

// reserveCreate takes a slot in call's namespace for a new key named
// alias, or refuses with KEY_EXISTS or QUOTA_EXCEEDED, before the TPM is
// asked. The returned release must be called once the record is stored
// or refused. Store.Create checks both again, atomically, on disk.
func (c *Core) reserveCreate(call *Call, alias string) (release func(), err error) {
	uid, max := call.ns, call.limits().MaxKeysPerUID
	login := call.st.owners.owner(uid)
	// Outside the lock first: the first Get or Count of a namespace reads
	// its directory, and no other create should wait for that.
	if err := c.checkFree(uid, alias); err != nil {
		return nil, err
	}
	r := c.reserved
	unlock := r.lockLogin(login)
	defer unlock()
	n := 0
	if max > 0 {
		// Under the login's lock, not the global one: a login with
		// subordinate uids is counted from the store (I/O), and only its
		// own creates wait for that. A create stored but not yet released
		// counts twice here, which can refuse early, never exceed.
		if n, err = c.loginKeys(call.st, uid, login); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := reservedAlias{uid, alias}
	if _, taken := r.aliases[key]; taken {
		return nil, fmt.Errorf("alias %q is being created: %w", alias, ErrKeyExists)
	}
	if max > 0 && n+r.pending[login] >= max {
		return nil, ErrQuotaExceeded
	}
	r.pending[login]++
	r.aliases[key] = struct{}{}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.aliases, key)
		if r.pending[login]--; r.pending[login] <= 0 {
			delete(r.pending, login)
		}
	}, nil
}

// lockLogin takes login's quota lock; the returned func releases it.
func (r *reservations) lockLogin(login uint32) (unlock func()) {
	r.mu.Lock()
	l := r.logins[login]
	if l == nil {
		l = &loginLock{}
		r.logins[login] = l
	}
	l.refs++
	r.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		r.mu.Lock()
		defer r.mu.Unlock()
		if l.refs--; l.refs == 0 {
			delete(r.logins, login)
		}
	}
}

// loginKeys counts the keys the quota charges to login: those of uid, or,
// for a login with subordinate uids, those of all its uids.
func (c *Core) loginKeys(st *Settings, uid, login uint32) (int, error) {
	if !st.owners.hasSubordinates(login) {
		n, err := c.store.Count(uid) // cached since checkFree
		if err != nil {
			return 0, fmt.Errorf("Store.Count: %w", err)
		}
		return n, nil
	}
	all, err := c.store.CountAll()
	if err != nil {
		return 0, fmt.Errorf("Store.CountAll: %w", err)
	}
	n := 0
	for u, k := range all {
		if st.owners.owner(u) == login {
			n += k
		}
	}
	return n, nil
}

// holdAlias keeps other changes of the key ns/alias out (a rotation),
// or refuses with BUSY while one is under way; release ends the hold.
func (c *Core) holdAlias(ns uint32, alias string) (release func(), err error) {
	r := c.reserved
	r.mu.Lock()
	defer r.mu.Unlock()
	key := reservedAlias{ns, alias}
	if _, taken := r.aliases[key]; taken {
		return nil, fmt.Errorf("key %q is being changed: %w", alias, ErrBusy)
	}
	r.aliases[key] = struct{}{}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.aliases, key)
	}, nil
}

// checkFree refuses a taken alias (a refused record still takes its
// alias) and warms the namespace's count.
func (c *Core) checkFree(uid uint32, alias string) error {
	_, err := c.store.Get(uid, alias)
	switch {
	case errors.Is(err, store.ErrUnsafePath):
		return fmt.Errorf("Store.Get: %w", err) // the namespace itself is refused
	case err == nil || errors.Is(err, ErrKeyInvalidated):
		return ErrKeyExists
	case !errors.Is(err, ErrKeyNotFound):
		return fmt.Errorf("Store.Get: %w", err)
	}
	if _, err := c.store.Count(uid); err != nil {
		return fmt.Errorf("Store.Count: %w", err)
	}
	return nil
}
