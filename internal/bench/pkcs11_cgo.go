//go:build cgo

package bench

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/miekg/pkcs11"
)

// p11ClientModule is Debian's p11-kit client module (p11-kit-modules).
const p11ClientModule = "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so"

// p11Env is a program that signs through tpmkeyd's PKCS#11 token as
// programs do: miekg/pkcs11 loads p11-kit-client.so, which speaks p11-kit's
// RPC to the daemon's PKCS#11 socket. Each worker has its own PKCS#11
// session; all share the module's one connection, as threads of one
// program do.
type p11Env struct {
	ctx      *pkcs11.Ctx
	mu       sync.Mutex // guards sessions
	sessions map[int]pkcs11.SessionHandle
	key      pkcs11.ObjectHandle
	digest   []byte
}

// setupPKCS11 initializes the client module against socket and finds the
// hot key's private half. It returns nil, nil when the module is not
// installed.
func setupPKCS11(socket string, digest []byte) (*p11Env, error) {
	if _, err := os.Stat(p11ClientModule); err != nil {
		return nil, nil
	}
	os.Setenv("P11_KIT_SERVER_ADDRESS", "unix:path="+socket)
	ctx := pkcs11.New(p11ClientModule)
	if ctx == nil {
		return nil, fmt.Errorf("pkcs11.New(%s) failed", p11ClientModule)
	}
	if err := ctx.Initialize(); err != nil {
		ctx.Destroy()
		return nil, fmt.Errorf("C_Initialize: %w", err)
	}
	e := &p11Env{ctx: ctx, sessions: map[int]pkcs11.SessionHandle{}, digest: digest}
	s, err := e.session(-1)
	if err == nil {
		e.key, err = e.find(s, hotAlias)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func (e *p11Env) find(s pkcs11.SessionHandle, label string) (pkcs11.ObjectHandle, error) {
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if err := e.ctx.FindObjectsInit(s, tmpl); err != nil {
		return 0, fmt.Errorf("C_FindObjectsInit: %w", err)
	}
	objs, _, err := e.ctx.FindObjects(s, 1)
	e.ctx.FindObjectsFinal(s)
	if err != nil || len(objs) == 0 {
		return 0, fmt.Errorf("C_FindObjects(%s) = %d objects, %v", label, len(objs), err)
	}
	return objs[0], nil
}

// session is worker w's session, opened on first use.
func (e *p11Env) session(w int) (pkcs11.SessionHandle, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.sessions[w]; ok {
		return s, nil
	}
	slots, err := e.ctx.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		return 0, fmt.Errorf("C_GetSlotList = %v, %v", slots, err)
	}
	s, err := e.ctx.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		return 0, fmt.Errorf("C_OpenSession: %w", err)
	}
	e.sessions[w] = s
	return s, nil
}

// sign is one C_SignInit + C_Sign (CKM_ECDSA over a SHA-256 digest).
func (e *p11Env) sign(_ context.Context, w, _ int) error {
	s, err := e.session(w)
	if err != nil {
		return err
	}
	if err := e.ctx.SignInit(s, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}, e.key); err != nil {
		return fmt.Errorf("C_SignInit: %w", err)
	}
	sig, err := e.ctx.Sign(s, e.digest)
	if err != nil {
		return fmt.Errorf("C_Sign: %w", err)
	}
	if len(sig) != 64 {
		return fmt.Errorf("C_Sign: %d-byte signature, want 64", len(sig))
	}
	return nil
}

func (e *p11Env) close() {
	for _, s := range e.sessions {
		e.ctx.CloseSession(s)
	}
	e.ctx.Finalize()
	e.ctx.Destroy()
}

// cases are the PKCS#11 cases: C_Sign through p11-kit-client.so.
func (e *p11Env) cases() []agentCase {
	return []agentCase{
		{"pkcs11-sign-1-session", "ECDSA P-256 C_Sign through p11-kit-client.so (miekg/pkcs11), 1 session", RawECCSign, 1, 0.80, e.sign},
		{"pkcs11-sign-8-sessions", "ECDSA P-256 C_Sign through p11-kit-client.so (miekg/pkcs11), 8 sessions, 8 goroutines", RawECCSign, 8, 0.80, e.sign},
	}
}
