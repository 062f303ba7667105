package core

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// lockoutState is the TPM's dictionary-attack state (TPM_PT_LOCKOUT_*).
type lockoutState struct {
	Counter  uint32        // wrong authorizations the TPM currently counts
	MaxTries uint32        // at this count the TPM locks out every DA-protected key
	Interval time.Duration // the TPM forgets one failure per interval
	Recovery time.Duration // lockout recovery time
	InLock   bool          // the TPM is locked out now
}

// Budget shares, derived from the TPM's MaxTries: the last reserveShare
// of tries (at least one) is never spent, so the TPM itself never locks
// out and a correct PIN keeps working for everyone; of the rest, one
// owner may spend at most ownerShare (at least one) within an interval.
const (
	reserveShare = 4 // reserve = max(1, MaxTries/4)
	ownerShare   = 4 // per owner = max(1, (MaxTries - reserve)/4)
	// defaultKeyTries is how many wrong PINs in a row a key takes before
	// it is locked locally with a backoff, like a smart card's counter.
	defaultKeyTries = 10
	maxKeyBackoff   = 24 * time.Hour
)

// pinGuard keeps the TPM's shared dictionary-attack budget from being
// spent by any one caller. The TPM counts wrong PINs globally: without
// this, one uid's three wrong PINs locked every uid's PIN keys and sealed
// secrets (LOCKED_OUT with the correct PIN). The guard refuses locally,
// before the TPM is asked, an attempt that could push the TPM's counter
// into the reserve, or an owner past its share, or a key past its tries.
// Its ledger is a file in the state directory, so a restart does not
// refill anyone's budget.
type pinGuard struct {
	log   *slog.Logger
	path  string
	state func(ctx context.Context) (lockoutState, error)
	now   func() time.Time

	mu         sync.Mutex
	ledger     pinLedger      // guarded by mu
	inflight   int            // guarded by mu: PIN attempts now at the TPM
	inflightOf map[uint32]int // guarded by mu: the same, per owner
	read       lockoutState   // guarded by mu: the TPM's state as last read
	readAt     time.Time      // guarded by mu
	sinceRead  int            // guarded by mu: wrong PINs seen since readAt
	seq        uint64         // guarded by mu: ledger changes so far

	writeMu sync.Mutex // serialises ledger writes, outside mu
	written uint64     // guarded by writeMu: the change now on disk
}

// lockoutMaxAge is how long a read of the TPM's lockout state serves, so
// that a PIN use costs a TPM round trip at most once a second; wrong PINs
// seen meanwhile are added to it.
const lockoutMaxAge = time.Second

// lockout returns the TPM's lockout state, read at most once per
// lockoutMaxAge.
func (g *pinGuard) lockout(ctx context.Context) (lockoutState, error) {
	g.mu.Lock()
	if !g.readAt.IsZero() && g.now().Sub(g.readAt) < lockoutMaxAge {
		st := g.read
		g.mu.Unlock()
		return st, nil
	}
	g.mu.Unlock()
	st, err := g.state(ctx)
	if err != nil {
		return lockoutState{}, err
	}
	g.mu.Lock()
	g.read, g.readAt, g.sinceRead = st, g.now(), 0
	g.mu.Unlock()
	return st, nil
}

// pinLedger is what the guard persists.
type pinLedger struct {
	Failures []pinFailure     `json:"failures"`  // recent wrong PINs, per owner
	KeyTries map[string]int   `json:"key_tries"` // wrong PINs in a row, per key id (hex)
	KeyLast  map[string]int64 `json:"key_last"`  // unix time of a key's last wrong PIN
}

type pinFailure struct {
	Owner uint32 `json:"owner"`
	At    int64  `json:"at"` // unix seconds
}

const pinLedgerFile = "pin-failures.json"

// lockoutOf reads t's lockout state.
func lockoutOf(t TPM) func(context.Context) (lockoutState, error) {
	return func(ctx context.Context) (lockoutState, error) {
		st, err := t.DAState(ctx)
		if err != nil {
			return lockoutState{}, err
		}
		return lockoutState{Counter: st.Counter, MaxTries: st.MaxTries, Interval: st.Interval, Recovery: st.Recovery,
			InLock: st.InLockout}, nil
	}
}

func newPinGuard(log *slog.Logger, stateDir string, state func(context.Context) (lockoutState, error)) (*pinGuard, error) {
	g := &pinGuard{log: log, path: filepath.Join(stateDir, pinLedgerFile), state: state, now: time.Now,
		inflightOf: map[uint32]int{},
		ledger:     pinLedger{KeyTries: map[string]int{}, KeyLast: map[string]int64{}}}
	data, err := os.ReadFile(g.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return g, nil
	case err != nil:
		return nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	if err := json.Unmarshal(data, &g.ledger); err != nil {
		// A ledger that cannot be read must not refill budgets: start
		// from a full owner share spent would lock everyone out, so keep
		// the TPM's own counter as the only guard and say so.
		return nil, fmt.Errorf("%s: %w", g.path, err)
	}
	if g.ledger.KeyTries == nil {
		g.ledger.KeyTries = map[string]int{}
	}
	if g.ledger.KeyLast == nil {
		g.ledger.KeyLast = map[string]int64{}
	}
	return g, nil
}

// shares returns the reserve and the per-owner share for maxTries.
func shares(maxTries uint32) (reserve, perOwner int) {
	reserve = max(1, int(maxTries)/reserveShare)
	perOwner = max(1, (int(maxTries)-reserve)/ownerShare)
	return reserve, perOwner
}

// begin admits one PIN attempt of owner with key keyID, or refuses it
// with ErrPINLockedOut. done must be called with whether the TPM said the
// PIN was wrong.
func (g *pinGuard) begin(ctx context.Context, owner uint32, keyID []byte) (done func(wrong bool), err error) {
	st, err := g.lockout(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the TPM's lockout state: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	st.Counter += uint32(g.sinceRead) // wrong PINs the TPM counted after the read
	g.pruneLocked(now, st.Interval)
	key := hex.EncodeToString(keyID)
	if wait := g.keyWaitLocked(key, now, st.Interval); wait > 0 {
		return nil, fmt.Errorf("key has had %d wrong PINs in a row; retry in %s: %w",
			g.ledger.KeyTries[key], wait.Round(time.Second), ErrPINLockedOut)
	}
	if st.MaxTries > 0 {
		reserve, perOwner := shares(st.MaxTries)
		mine, oldest := g.ownerLocked(owner)
		// Attempts still at the TPM may all turn out wrong: they count.
		if mine+g.inflightOf[owner] >= perOwner {
			if mine == 0 {
				return nil, fmt.Errorf("uid %d has PIN attempts at the TPM; retry once they are answered: %w",
					owner, ErrPINLockedOut)
			}
			return nil, fmt.Errorf("uid %d has had %d wrong PINs; retry in %s: %w",
				owner, mine, (time.Unix(oldest, 0).Add(st.Interval).Sub(now)).Round(time.Second), ErrPINLockedOut)
		}
		if int(st.Counter)+g.inflight >= int(st.MaxTries)-reserve {
			return nil, fmt.Errorf("the TPM has counted %d wrong PINs of %d; retry in %s: %w",
				st.Counter, st.MaxTries, st.Interval.Round(time.Second), ErrPINLockedOut)
		}
	}
	g.inflight++
	g.inflightOf[owner]++
	return func(wrong bool) { g.finish(owner, key, wrong) }, nil
}

// finish records the outcome of an attempt begin admitted, then writes
// the ledger if it changed. The write (an fsync) runs after g.mu is
// released, so that no other owner's PIN attempt waits for this disk.
func (g *pinGuard) finish(owner uint32, key string, wrong bool) {
	if seq, data, changed := g.record(owner, key, wrong); changed {
		g.save(seq, data)
	}
}

func (g *pinGuard) record(owner uint32, key string, wrong bool) (seq uint64, data []byte, changed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	if g.inflightOf[owner]--; g.inflightOf[owner] <= 0 {
		delete(g.inflightOf, owner)
	}
	switch {
	case wrong:
		g.sinceRead++
		now := g.now().Unix()
		g.ledger.Failures = append(g.ledger.Failures, pinFailure{Owner: owner, At: now})
		g.ledger.KeyTries[key]++
		g.ledger.KeyLast[key] = now
	case g.ledger.KeyTries[key] > 0:
		delete(g.ledger.KeyTries, key)
		delete(g.ledger.KeyLast, key)
	default:
		return 0, nil, false
	}
	g.seq++
	data, err := json.Marshal(&g.ledger)
	if err != nil {
		g.log.Error("the wrong-PIN ledger could not be encoded", "err", err)
		return 0, nil, false
	}
	return g.seq, data, true
}

// keyWaitLocked is how long key stays locked: none below defaultKeyTries
// wrong PINs in a row, then the TPM's interval doubling per further try.
func (g *pinGuard) keyWaitLocked(key string, now time.Time, interval time.Duration) time.Duration {
	n := g.ledger.KeyTries[key]
	if n < defaultKeyTries {
		return 0
	}
	backoff := max(interval, time.Second) << min(n-defaultKeyTries, 16)
	backoff = min(backoff, maxKeyBackoff)
	return time.Unix(g.ledger.KeyLast[key], 0).Add(backoff).Sub(now)
}

// ownerLocked counts owner's failures still within the interval, and the
// time of the oldest.
func (g *pinGuard) ownerLocked(owner uint32) (n int, oldest int64) {
	for _, f := range g.ledger.Failures {
		if f.Owner == owner {
			if n == 0 {
				oldest = f.At
			}
			n++
		}
	}
	return n, oldest
}

// pruneLocked forgets failures older than the TPM's interval: by then the
// TPM has forgotten at least as many.
func (g *pinGuard) pruneLocked(now time.Time, interval time.Duration) {
	cut := now.Add(-interval).Unix()
	kept := g.ledger.Failures[:0]
	for _, f := range g.ledger.Failures {
		if f.At > cut {
			kept = append(kept, f)
		}
	}
	g.ledger.Failures = kept
}

// save writes the ledger snapshot seq atomically (a new file, fsynced,
// renamed over the old), unless a newer one is on disk already. A failure
// is logged; the ledger in memory still holds until the daemon stops, but
// a restart would then forget it.
func (g *pinGuard) save(seq uint64, data []byte) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if seq <= g.written {
		return
	}
	if err := writeLedger(g.path, data); err != nil {
		g.log.Error("the wrong-PIN ledger could not be saved; a restart would forget recent wrong PINs",
			"path", g.path, "err", err)
		return
	}
	g.written = seq
}

func writeLedger(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("os.OpenFile: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("os.Rename: %w", err)
	}
	return nil
}
