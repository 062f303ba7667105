//go:build !cgo

package bench

import "context"

// p11Env is empty without cgo: the PKCS#11 cases load a C module
// (pkcs11_cgo.go), and a CGO_ENABLED=0 build of tpmkey-bench skips them.
type p11Env struct{}

func setupPKCS11(string, []byte) (*p11Env, error)      { return nil, nil }
func (e *p11Env) sign(context.Context, int, int) error { return nil }
func (e *p11Env) close()                               {}
func (e *p11Env) cases() []agentCase                   { return nil }
