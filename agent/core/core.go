package core

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/time/rate"

	"github.com/google/go-tpm/tpm2"
	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// TPM is the part of *tpm.TPM the core uses.
type TPM interface {
	Info() tpm.Info
	Supports(a tpm.Algorithm) bool
	Random(ctx context.Context, n int) ([]byte, error)
	CreateKey(ctx context.Context, spec tpm.KeySpec) (*tpm.Blob, crypto.PublicKey, error)
	Seal(ctx context.Context, secret []byte, spec tpm.KeySpec) (*tpm.Blob, error)
	Sign(ctx context.Context, b *tpm.Blob, a tpm.Auth, digest []byte, o tpm.SignOptions) ([]byte, error)
	Decrypt(ctx context.Context, b *tpm.Blob, a tpm.Auth, ciphertext []byte, s tpm.DecryptScheme) ([]byte, error)
	ECDH(ctx context.Context, b *tpm.Blob, a tpm.Auth, peer crypto.PublicKey) ([]byte, error)
	Unseal(ctx context.Context, b *tpm.Blob, a tpm.Auth) ([]byte, error)
	Forget(b *tpm.Blob)
	DAState(ctx context.Context) (tpm.DAState, error)
	QueueLen() int
	HMAC(ctx context.Context, b *tpm.Blob, a tpm.Auth, data []byte) ([]byte, error)
	DeriveKey(ctx context.Context, b *tpm.Blob, a tpm.Auth, label []byte) ([]byte, error)
	ImportKey(ctx context.Context, spec tpm.KeySpec, key any) (*tpm.Blob, crypto.PublicKey, error)
	ImportWrapped(ctx context.Context, w *wrap.Blob) (*tpm.Blob, crypto.PublicKey, error)
	SRKPublic() []byte
	SRKName() []byte
	ExportKey(ctx context.Context, b *tpm.Blob, target *tpm2.TPMTPublic) (*wrap.Blob, error)
}

// keyStore is the store as the core uses it.
type keyStore = store.Keys

var (
	_ TPM      = (*tpm.TPM)(nil)
	_ keyStore = (*store.Store)(nil)
)

// Core is the transport-neutral keystore: front ends hand it an identified
// caller (a Session) and a typed request (a Call), and it runs admission,
// key lookup, the store, the TPM and the audit record, in that order
// (Session.Do). Front ends only translate their wire to Calls and back.
type Core struct {
	log      *slog.Logger
	tpm      TPM
	store    keyStore
	version  string
	started  time.Time
	settings atomic.Pointer[Settings]
	conns    *connCounter
	rates    *rateLimiters
	reserved *reservations
	budget   *byteBudget
	pins     *pinGuard
	refusals *refusalLog // audit records of refusals, and refused connections
	failLog  *refusalLog // log lines of failed requests
	ops      opTable
	aead     *aeadState // aes-256-gcm: working keys, key ids, message counts (ops_aead.go)
	ssh      *sshState  // agent locks and cached PIN authorizations (ops_ssh.go)
}

// New makes the core over an open TPM and store, with the settings s.
// stateDir holds the wrong-PIN ledger (pinGuard).
func New(log *slog.Logger, t TPM, st store.Keys, stateDir, version string, s *Settings) (*Core, error) {
	pins, err := newPinGuard(log, stateDir, lockoutOf(t))
	if err != nil {
		return nil, fmt.Errorf("wrong-PIN ledger: %w", err)
	}
	c := &Core{log: log, tpm: t, store: st, pins: pins, version: version, started: time.Now(),
		conns: newConnCounter(), rates: newRateLimiters(), reserved: newReservations(),
		budget: newByteBudget(), refusals: newRefusalLog(), failLog: newRefusalLog(), ops: newOpTable(),
		ssh: newSSHState()}
	c.settings.Store(s)
	c.aead = newAEADState(log, s.cfg.AEADKeyCacheTTL.Duration)
	return c, nil
}

// SetSettings swaps in the settings of a reload; requests in flight keep
// the ones they started with.
func (c *Core) SetSettings(s *Settings) {
	c.settings.Store(s)
	c.aead.keys.reset(s.cfg.AEADKeyCacheTTL.Duration) // a reload zeroes the cached working keys
}

// Close zeroes and unmaps what the core holds in memory (the AEAD working
// keys, the cached ssh PIN authorizations and agent locks). The daemon calls
// it on stop, after the requests have drained.
func (c *Core) Close() {
	c.aead.keys.close()
	c.ssh.clear()
}

// Connections is the number of open sessions, all owners.
func (c *Core) Connections() int { return c.conns.count() }

// HeldBytes is the memory budget held by requests in flight: in total, and
// by owner.
func (c *Core) HeldBytes(owner uint32) (total, mine int64) { return c.budget.used(owner) }

// Limits returns the limits in force, for front ends that size buffers
// and deadlines by them.
func (c *Core) Limits() Limits { return c.settings.Load().cfg.Limits }

// Session is one front-end connection of one caller, admitted by Connect.
// It is safe for concurrent use by the connection's workers.
type Session struct {
	core    *Core
	caller  Caller
	limiter *rate.Limiter // the caller's, shared by its sessions
	strikes atomic.Int32  // frames in a row that failed as malformed or over the rate
}

// maxStrikes is how many malformed or rate-limited frames in a row a
// session may send before the core asks for its connection to be closed.
const maxStrikes = 64

// countFailure counts frames that only a broken or hostile peer keeps
// sending; a success resets the count. It reports when to close.
func (s *Session) countFailure(st protocol.Status) bool {
	switch st {
	case protocol.StatusBadRequest, protocol.StatusUnknownOp, protocol.StatusUnsupportedVersion,
		protocol.StatusFrameTooLarge, protocol.StatusRateLimited:
		return s.strikes.Add(1) >= maxStrikes
	}
	s.strikes.Store(0)
	return false
}

// Connect admits a new connection of caller: allow_users/allow_groups and
// the connection limits. The error is PERMISSION_DENIED or BUSY; the
// refusal is logged here, once. Close releases the slot.
func (c *Core) Connect(caller Caller) (*Session, error) {
	st := c.settings.Load()
	caller.Owner = st.owners.owner(caller.UID)
	if !st.mayConnect(&caller) {
		c.logRefusedConn(&caller, protocol.StatusPermissionDenied)
		return nil, fmt.Errorf("uid %d: not allowed to use this agent: %w", caller.UID, ErrPermissionDenied)
	}
	if !c.conns.acquire(caller.Owner, st.isAdmin(&caller), st.cfg.Limits) {
		c.logRefusedConn(&caller, protocol.StatusBusy)
		return nil, fmt.Errorf("too many connections: %w", ErrBusy)
	}
	return &Session{core: c, caller: caller, limiter: c.rates.forUID(caller.Owner, st.cfg.Limits)}, nil
}

// logRefusedConn logs a refused connection, within the owner's share of
// refusal lines.
func (c *Core) logRefusedConn(caller *Caller, st protocol.Status) {
	if ok, n := c.refusals.allow(caller.Owner); ok {
		c.log.Warn("connection refused", "uid", caller.UID, "pid", caller.PID, "comm", caller.Comm,
			"status", st.String(), "suppressed", n)
	}
}

// Close releases the session's connection slot.
func (s *Session) Close() { s.core.conns.release(s.caller.Owner) }

// Caller is the session's identity, as the kernel gave it at connect time.
func (s *Session) Caller() *Caller { return &s.caller }

// Call is one request on its way through the core. A front end fills Op
// and either Req (a typed request) or Body (its CBOR encoding), or Refused
// when its own framing already failed, so that the refusal is admitted,
// answered and audited like any request.
type Call struct {
	Op      protocol.Op
	Req     any
	Body    []byte
	Refused error

	// Sensitive is set when the response holds a secret: the front end
	// clears its encoding after writing it.
	Sensitive bool
	// Frame, when set with an OK result, is a buffer the response's frame
	// may be encoded into (AppendResponse with (*Frame)[:0]): the core put
	// the response's data where the encoding puts it (protocol/inplace.go).
	// The core owns it, and clears (if it held a secret) and reuses it in
	// Finish; the front end does neither.
	Frame *[]byte

	caller *Caller
	st     *Settings
	alias  string
	keyID  []byte
	key    *store.Record // the key the operation acts on, found by the lookup step
	target bool          // ns was resolved (it names whose keys the call acts on)
	ns     uint32        // namespace the key is in
	wipes  [][]byte      // cleared by Finish
	done   []func()      // run by Finish, after the wipes (pooled buffers going back)
	// version and auditContext are the key version and the encryption
	// context (rendered by noteContext) of an AEAD call, for its audit
	// record.
	version      uint32
	auditContext string
	record       *auditRecord // written by Finish
}

// Result is the core's answer to a Call: a response body (OK) or a status
// and a short message for the peer.
type Result struct {
	Status  protocol.Status
	Message string
	Resp    any
	// Close asks the front end to close the connection after this
	// answer: the caller kept sending frames that fail.
	Close bool
}

// Do runs call for the session's caller: admission, key lookup, the
// operation (store, TPM), and prepares its one audit record, which Finish
// writes. It never panics: a panic
// becomes INTERNAL, logged with its stack. The caller of Do must call
// call.Finish once the response is written.
func (s *Session) Do(ctx context.Context, call *Call) Result {
	start := time.Now()
	call.caller, call.st = &s.caller, s.core.settings.Load()
	resp, err := s.run(ctx, call)
	res := Result{Status: protocol.StatusOK, Resp: resp}
	if err != nil {
		res.Status, res.Message = s.core.statusOf(call, err)
		res.Resp = nil
	}
	if res.Status == protocol.StatusTPMChanged { // cached AEAD working keys are of the old TPM
		s.core.aead.keys.reset(call.st.cfg.AEADKeyCacheTTL.Duration)
	}
	res.Close = s.countFailure(res.Status)
	rec := &auditRecord{Op: call.Op, Caller: &s.caller, Alias: call.alias, KeyID: call.keyID,
		Status: res.Status, Dur: time.Since(start), KeyVersion: call.version, Context: call.auditContext}
	if call.ns != s.caller.UID && call.target {
		rec.TargetUID = &call.ns
	}
	if res.Status != protocol.StatusOK {
		ok, n := s.core.refusals.allow(s.caller.Owner)
		if !ok {
			return res
		}
		rec.Suppressed = n
	}
	call.record = rec
	return res
}

// Finish writes the call's audit record and clears the secrets it held
// (PINs, plaintexts). A front end calls it once the response is written,
// so that writing the record is not on the caller's wait. The result's
// Resp may hold pooled buffers (an AEAD ciphertext or plaintext) that
// Finish clears and reuses: it is not to be used after Finish.
func (call *Call) Finish() {
	if call.record != nil {
		call.st.audit.record(call.record)
		call.record = nil
	}
	for _, b := range call.wipes {
		if !within(b, call.Body) { // Body is cleared whole below: once is enough
			clear(b)
		}
	}
	clear(call.Body)
	for _, f := range call.done {
		f()
	}
	call.done, call.Frame = nil, nil
}

// within reports whether b lies inside outer's bytes (a request's byte
// string decoded in place).
func within(b, outer []byte) bool {
	if len(b) == 0 || len(outer) == 0 {
		return len(b) == 0
	}
	start, lo := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&outer[0]))
	return start >= lo && start+uintptr(len(b)) <= lo+uintptr(len(outer))
}

// wipe registers secrets to clear in Finish.
func (call *Call) wipe(bs ...[]byte) { call.wipes = append(call.wipes, bs...) }

func (call *Call) limits() Limits { return call.st.cfg.Limits }

func (s *Session) run(ctx context.Context, call *Call) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.core.log.Error("panic while serving a request", "op", call.Op.String(), "uid", s.caller.UID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, errPanic
		}
	}()
	op, err := s.admit(call)
	if err != nil {
		return nil, err
	}
	if err := s.decode(call, op); err != nil {
		return nil, err
	}
	if err := s.core.findKey(call, op); err != nil {
		return nil, err
	}
	if err := s.charge(call, op); err != nil {
		return nil, err
	}
	if !op.usesTPM {
		return op.run(s.core, ctx, call)
	}
	// The TPM serves owners in turn, and at most max_queued_tpm_per_uid
	// of one owner's jobs wait (tpm.ErrBusy past it).
	ctx = tpm.WithOwner(ctx, s.caller.Owner)
	if call.key != nil {
		if call.key.HasPIN {
			return s.runWithPIN(ctx, call, op)
		}
		if pb, ok := call.Req.(protocol.PINBearer); ok && len(pb.KeyPIN()) > 0 {
			// The key's PIN is empty, so the one sent is wrong. Told here,
			// the TPM never sees a wrong auth outside the PIN budget.
			return nil, protocol.Errorf(protocol.StatusWrongPIN, "key %q has no PIN; send none", call.alias)
		}
	}
	return op.run(s.core, ctx, call)
}

// runWithPIN runs an operation that presents a key's PIN to the TPM
// within the owner's share of the TPM's wrong-PIN budget (pinGuard).
func (s *Session) runWithPIN(ctx context.Context, call *Call, op *operation) (any, error) {
	done, err := s.core.pins.begin(ctx, s.caller.Owner, call.key.KeyID[:])
	if err != nil {
		return nil, err
	}
	resp, err := op.run(s.core, ctx, call)
	done(errors.Is(err, tpm.ErrAuthFail))
	return resp, err
}

// decode turns the call's body into op's typed request, unless the front
// end gave one.
func (s *Session) decode(call *Call, op *operation) error {
	if call.Req == nil {
		req := op.spec.NewRequest()
		if err := protocol.DecodeBody(call.Body, req); err != nil {
			return err
		}
		call.Req = req
	}
	if sr, ok := call.Req.(protocol.Secretive); ok {
		call.wipe(sr.Secrets()...)
	}
	return nil
}

// Errors internal to the request path.
var (
	errPanic = errors.New("panic while serving a request")
	errTPM   = errors.New("TPM command failed")
)
