package agent

import (
	"errors"
	"fmt"
	"sync"
)

// reservations hold a key slot and an alias from the moment a create is
// admitted until its record is stored or refused, so that neither a full
// quota nor a taken alias costs any TPM work: with a quota of 1, twelve
// concurrent keygens do one keygen and eleven immediate refusals.
type reservations struct {
	mu      sync.Mutex
	pending map[uint32]int             // guarded by mu: creates in flight per namespace
	aliases map[reservedAlias]struct{} // guarded by mu
}

type reservedAlias struct {
	uid   uint32
	alias string
}

func newReservations() *reservations {
	return &reservations{pending: map[uint32]int{}, aliases: map[reservedAlias]struct{}{}}
}

// reserveCreate takes a slot in call's namespace for a new key named
// alias, or refuses with KEY_EXISTS or QUOTA_EXCEEDED, before the TPM is
// asked. The returned release must be called once the record is stored
// or refused. Store.Create checks both again, atomically, on disk.
func (c *Core) reserveCreate(call *Call, alias string) (release func(), err error) {
	uid, max := call.owner, call.limits().MaxKeysPerUID
	// Outside the lock first: the first Get or Count of a namespace reads
	// its directory, and no other create should wait for that.
	if err := c.checkFree(uid, alias); err != nil {
		return nil, err
	}
	r := c.reserved
	r.mu.Lock()
	defer r.mu.Unlock()
	key := reservedAlias{uid, alias}
	if _, taken := r.aliases[key]; taken {
		return nil, fmt.Errorf("alias %q is being created: %w", alias, ErrKeyExists)
	}
	if max > 0 {
		n, err := c.store.Count(uid) // cached since checkFree: no I/O under the lock
		if err != nil {
			return nil, fmt.Errorf("Store.Count: %w", err)
		}
		if n+r.pending[uid] >= max {
			return nil, ErrQuotaExceeded
		}
	}
	r.pending[uid]++
	r.aliases[key] = struct{}{}
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.aliases, key)
		if r.pending[uid]--; r.pending[uid] <= 0 {
			delete(r.pending, uid)
		}
	}, nil
}

// checkFree refuses a taken alias (a refused record still takes its
// alias) and warms the namespace's count.
func (c *Core) checkFree(uid uint32, alias string) error {
	_, err := c.store.Get(uid, alias)
	switch {
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
