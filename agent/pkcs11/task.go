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
	rpc.CallVerifyInit:        (*task).verifyInit,
	rpc.CallVerify:            (*task).verify,
	rpc.CallVerifyUpdate:      (*task).verifyUpdate,
	rpc.CallVerifyFinal:       (*task).verifyFinal,
	rpc.CallEncryptInit:       (*task).encryptInit,
	rpc.CallEncrypt:           (*task).encrypt,
}

// respBufSize is the capacity a response starts with: the frame header
// and every fixed-size answer fit.
const respBufSize = 256

// run answers msg with a whole frame whose header is left to fill in (the
// first rpc.HeaderSize bytes); ok is false when msg did not parse.
func (t *task) run(msg []byte) (frame []byte, ok bool) {
	in, err := rpc.ParseRequest(msg)
	if errors.Is(err, rpc.ErrUnknownCall) {
		return errorFrame(ckrFunctionNotSupported), true
	}
	if err != nil {
		return errorFrame(ckrDeviceError), false
	}
	h := handlers[in.Call]
	if h == nil {
		return errorFrame(ckrFunctionNotSupported), true
	}
	if in.Call != rpc.CallInitialize && in.Call != rpc.CallGetInfo && !t.c.tok.isInitialized() {
		return errorFrame(ckrCryptokiNotInitialized), true
	}
	t.in = in
	t.out = rpc.NewResponse(make([]byte, rpc.HeaderSize, respBufSize), in.Call)
	rv := h(t)
	if in.Err() != nil {
		return t.errorFrame(ckrDeviceError), false
	}
	if rv != ckrOK {
		return t.errorFrame(rv), true
	}
	frame, err = t.out.Bytes()
	if err != nil {
		t.c.s.log.Error("pkcs11: building a response", "call", in.Call.String(), "err", err)
		return t.errorFrame(ckrGeneralError), true
	}
	return frame, true
}

// errorFrame is the frame of an error response, header left to fill in.
func errorFrame(rv uint64) []byte {
	return rpc.ErrorMessage(make([]byte, rpc.HeaderSize, 32), rv)
}

// errorFrame drops what the handler wrote (wiping it if it may hold a
// secret) and answers rv.
func (t *task) errorFrame(rv uint64) []byte {
	if t.sensitive {
		if b, _ := t.out.Bytes(); b != nil {
			clear(b[:cap(b)])
		}
	}
	return errorFrame(rv)
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
