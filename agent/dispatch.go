package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Errors internal to the request path.
var (
	errStopping = errors.New("agent stopping")
	errPanic    = errors.New("panic while serving a request")
	errTPM      = errors.New("TPM command failed")
)

// request is one request's state on its way through the agent: who asked,
// under which settings, and what the audit record and the wipe need.
type request struct {
	conn      *conn
	caller    *Caller
	st        *settings
	op        protocol.Op
	alias     string
	keyID     []byte
	helloOK   bool
	sensitive bool     // the response holds a secret: clear its buffer
	wipes     [][]byte // cleared once the response is written
}

// wipe registers secrets (PINs, plaintexts) to clear after the response.
func (r *request) wipe(bs ...[]byte) { r.wipes = append(r.wipes, bs...) }

func (r *request) wipeAll() {
	for _, b := range r.wipes {
		clear(b)
	}
}

func (r *request) limits() Limits { return r.st.cfg.Limits }

// dispatch decodes the body for r.op and runs its operation. A panic
// becomes INTERNAL, logged with its stack; the daemon keeps serving.
func (s *server) dispatch(ctx context.Context, r *request, body []byte) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic while serving a request", "op", r.op.String(), "uid", r.caller.UID,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, errPanic
		}
	}()
	if !r.conn.hello && r.op != protocol.OpHello {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "Hello must be the first request")
	}
	msg := protocol.NewRequest(r.op)
	if msg == nil {
		return nil, protocol.Errorf(protocol.StatusUnknownOp, "unknown operation %d", uint16(r.op))
	}
	if r.op != protocol.OpHello && !allowRequest(r.conn.limiter, r.limits()) {
		return nil, ErrRateLimited
	}
	if err := protocol.DecodeBody(body, msg); err != nil {
		return nil, err
	}
	return s.runOp(ctx, r, msg)
}

// runOp is the dispatch table: one case per version-1 operation.
func (s *server) runOp(ctx context.Context, r *request, msg any) (any, error) {
	switch m := msg.(type) {
	case *protocol.HelloRequest:
		return s.hello(r, m)
	case *protocol.GenerateKeyRequest:
		return s.generateKey(ctx, r, m)
	case *protocol.GetKeyRequest:
		return s.getKey(r, m)
	case *protocol.ListKeysRequest:
		return s.listKeys(r, m)
	case *protocol.DeleteKeyRequest:
		return s.deleteKey(r, m)
	case *protocol.SignRequest:
		return s.sign(ctx, r, m)
	case *protocol.VerifyRequest:
		return s.verify(r, m)
	case *protocol.DecryptRequest:
		return s.decrypt(ctx, r, m)
	case *protocol.EncryptRequest:
		return s.encrypt(r, m)
	case *protocol.ECDHRequest:
		return s.ecdh(ctx, r, m)
	case *protocol.SealRequest:
		return s.seal(ctx, r, m)
	case *protocol.UnsealRequest:
		return s.unseal(ctx, r, m)
	case *protocol.GetRandomRequest:
		return s.getRandom(ctx, r, m)
	case *protocol.StatusRequest:
		return s.status(r)
	}
	return nil, protocol.Errorf(protocol.StatusUnknownOp, "operation %s is not served", r.op)
}

// tpmErr marks an error from the TPM layer, so that an unrecognised one
// maps to TPM_ERROR rather than INTERNAL.
func tpmErr(op string, err error) error {
	return fmt.Errorf("tpm.%s: %w: %w", op, errTPM, err)
}

// statusOf is the one place an error becomes a wire status and the short
// message the peer sees. Details stay in the log.
func (s *server) statusOf(r *request, err error) (protocol.Status, string) {
	st, msg := mapError(err)
	switch st {
	case protocol.StatusInternal, protocol.StatusTPMError, protocol.StatusTPMUnavailable,
		protocol.StatusKeyInvalidated, protocol.StatusTPMChanged:
		s.log.Warn("request failed", "op", r.op.String(), "uid", r.caller.UID, "alias", r.alias,
			"status", st.String(), "err", err)
	default:
		s.log.Debug("request refused", "op", r.op.String(), "uid", r.caller.UID, "alias", r.alias,
			"status", st.String(), "err", err)
	}
	return st, msg
}

func mapError(err error) (protocol.Status, string) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Status, pe.Message
	}
	for _, m := range []struct {
		sentinel error
		status   protocol.Status
	}{
		{ErrKeyNotFound, protocol.StatusKeyNotFound},
		{ErrKeyExists, protocol.StatusKeyExists},
		{ErrUnsupportedRecord, protocol.StatusKeyInvalidated}, // before ErrKeyInvalidated: its own message
		{ErrKeyInvalidated, protocol.StatusKeyInvalidated},
		{ErrInvalidAlias, protocol.StatusInvalidAlias},
		{ErrQuotaExceeded, protocol.StatusQuotaExceeded},
		{ErrInvalidCursor, protocol.StatusBadRequest},
		{ErrPermissionDenied, protocol.StatusPermissionDenied},
		{ErrIncompatiblePurpose, protocol.StatusIncompatiblePurpose},
		{ErrRateLimited, protocol.StatusRateLimited},
		{ErrBusy, protocol.StatusBusy},
		{tpm.ErrAuthFail, protocol.StatusWrongPIN},
		{tpm.ErrLockout, protocol.StatusLockedOut},
		{tpm.ErrPolicyMismatch, protocol.StatusPolicyMismatch},
		{tpm.ErrTPMChanged, protocol.StatusTPMChanged},
		{tpm.ErrUnavailable, protocol.StatusTPMUnavailable},
		{tpm.ErrClosed, protocol.StatusTPMUnavailable},
		{tpm.ErrUnsupported, protocol.StatusUnsupportedAlgorithm},
		{tpm.ErrPurpose, protocol.StatusIncompatiblePurpose},
		{tpm.ErrInvalid, protocol.StatusBadRequest},
		{tpm.ErrBadBlob, protocol.StatusKeyInvalidated},
		{errStopping, protocol.StatusTPMUnavailable},
		{context.Canceled, protocol.StatusTPMUnavailable},
		{context.DeadlineExceeded, protocol.StatusTPMUnavailable},
		{errTPM, protocol.StatusTPMError},
	} {
		if errors.Is(err, m.sentinel) {
			return m.status, m.sentinel.Error()
		}
	}
	return protocol.StatusInternal, "internal error"
}
