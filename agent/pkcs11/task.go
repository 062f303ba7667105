package pkcs11

import (
	"context"
	"errors"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// task is one RPC request on its way: the message, the core calls it made
// (finished once the answer is written, which wipes their secrets and
// writes their audit records) and whether the answer holds a secret.
type task struct {
	c         *conn
	ctx       context.Context
	in        *rpc.Request
	out       *rpc.Response
	calls     []*core.Call
	sensitive bool
}

// handler serves one call: it reads its arguments from t.in, and on
// success writes its results to t.out and returns ckrOK; any other value
// is sent as the error response.
type handler func(t *task) uint64

// handlers maps each served call to its handler; calls not in it are
// answered CKR_FUNCTION_NOT_SUPPORTED.
var handlers = map[rpc.Call]handler{
	rpc.CallInitialize:        (*task).initialize,
	rpc.CallFinalize:          (*task).finalize,
	rpc.CallGetInfo:           (*task).getInfo,
	rpc.CallGetSlotList:       (*task).getSlotList,
	rpc.CallGetSlotInfo:       (*task).getSlotInfo,
	rpc.CallGetTokenInfo:      (*task).getTokenInfo,
	rpc.CallGetMechanismList:  (*task).getMechanismList,
	rpc.CallGetMechanismInfo:  (*task).getMechanismInfo,
	rpc.CallOpenSession:       (*task).openSession,
	rpc.CallCloseSession:      (*task).closeSession,
	rpc.CallCloseAllSessions:  (*task).closeAllSessions,
	rpc.CallGetSessionInfo:    (*task).getSessionInfo,
	rpc.CallLogin:             (*task).login,
	rpc.CallLogout:            (*task).logout,
	rpc.CallDestroyObject:     (*task).destroyObject,
	rpc.CallGetAttributeValue: (*task).getAttributeValue,
	rpc.CallFindObjectsInit:   (*task).findObjectsInit,
	rpc.CallFindObjects:       (*task).findObjects,
	rpc.CallFindObjectsFinal:  (*task).findObjectsFinal,
	rpc.CallSignInit:          (*task).signInit,
	rpc.CallSign:              (*task).sign,
	rpc.CallSignUpdate:        (*task).signUpdate,
	rpc.CallSignFinal:         (*task).signFinal,
	rpc.CallDecryptInit:       (*task).decryptInit,
	rpc.CallDecrypt:           (*task).decrypt,
	rpc.CallGenerateKeyPair:   (*task).generateKeyPair,
	rpc.CallDeriveKey:         (*task).deriveKey,
	rpc.CallGenerateRandom:    (*task).generateRandom,
	rpc.CallSeedRandom:        (*task).seedRandom,
	rpc.CallCreateObject:      (*task).createObject,
}

// run answers msg; ok is false when msg did not parse.
func (t *task) run(msg []byte) (out []byte, ok bool) {
	in, err := rpc.ParseRequest(msg)
	if errors.Is(err, rpc.ErrUnknownCall) {
		return rpc.ErrorMessage(nil, ckrFunctionNotSupported), true
	}
	if err != nil {
		return rpc.ErrorMessage(nil, ckrDeviceError), false
	}
	h := handlers[in.Call]
	if h == nil {
		return rpc.ErrorMessage(nil, ckrFunctionNotSupported), true
	}
	if in.Call != rpc.CallInitialize && in.Call != rpc.CallGetInfo && !t.c.tok.isInitialized() {
		return rpc.ErrorMessage(nil, ckrCryptokiNotInitialized), true
	}
	t.in = in
	t.out = rpc.NewResponse(make([]byte, 0, 256), in.Call)
	rv := h(t)
	if in.Err() != nil {
		return rpc.ErrorMessage(nil, ckrDeviceError), false
	}
	if rv != ckrOK {
		return rpc.ErrorMessage(nil, rv), true
	}
	out, err = t.out.Bytes()
	if err != nil {
		t.c.s.log.Error("pkcs11: building a response", "call", in.Call.String(), "err", err)
		return rpc.ErrorMessage(nil, ckrGeneralError), true
	}
	return out, true
}

// done checks that the request was read whole; handlers call it after
// reading their arguments and before acting.
func (t *task) done() bool { return t.in.Done() == nil }

// do runs one core call for the caller. The response, when the status is
// OK, stays valid until the task finishes.
func (t *task) do(op protocol.Op, req any) (any, uint64) {
	call := &core.Call{Op: op, Req: req}
	t.calls = append(t.calls, call)
	res := t.c.sess.Do(t.ctx, call)
	if call.Sensitive {
		t.sensitive = true
	}
	if res.Status != protocol.StatusOK {
		return nil, ckrOf(res.Status)
	}
	return res.Resp, ckrOK
}

// finish wipes and audits the task's core calls.
func (t *task) finish() {
	for _, c := range t.calls {
		c.Finish()
	}
}
