package core

import (
	"context"
	"fmt"
	"reflect"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// keyUse is how an operation finds the key it acts on, in the lookup step.
type keyUse uint8

const (
	noKey         keyUse = iota // no key
	existingKey                 // a stored key in the namespace (admins may name another uid), with the op's purpose
	newKey                      // an alias in the caller's own namespace, for a key to be made
	targetKey                   // a namespace and alias, looked up by the operation itself (DeleteKey)
	ciphertextKey               // the key whose id a ciphertext names, in the namespace (AEADDecrypt, ReEncrypt)
)

// operation is the core's half of one row of the operation table: the
// protocol's half (opcode, name, types, purpose) is spec, from
// protocol/ops.go; the core adds how the key is found, whether the TPM
// is used, the rate cost in tokens, and the handler.
type operation struct {
	spec    *protocol.OpSpec
	key     keyUse
	usesTPM bool
	cost    opCost
	run     func(c *Core, ctx context.Context, call *Call) (any, error)
}

// opTable is indexed by opcode.
type opTable []*operation

// newOpTable is the one list of the core's operations, one line each. The
// request type of the handler names the operation.
func newOpTable() opTable {
	return buildOpTable(
		handle(noKey, false, flatCost(costFrame), (*Core).hello),
		handle(newKey, true, keygenCost, (*Core).generateKey),
		handle(existingKey, false, flatCost(costFrame), (*Core).getKey),
		handle(noKey, false, flatCost(costFrame), (*Core).listKeys),
		handle(targetKey, false, flatCost(costFrame), (*Core).deleteKey),
		handle(existingKey, true, keyUseCost, (*Core).sign),
		handle(existingKey, false, flatCost(costFrame), (*Core).verify),
		handle(existingKey, true, keyUseCost, (*Core).decrypt),
		handle(existingKey, false, flatCost(costFrame), (*Core).encrypt),
		handle(existingKey, true, keyUseCost, (*Core).ecdh),
		handle(newKey, true, flatCost(costFrame), (*Core).seal),
		handle(existingKey, true, keyUseCost, (*Core).unseal),
		handle(noKey, true, flatCost(costFrame), (*Core).getRandom),
		handle(noKey, false, flatCost(costFrame), (*Core).status),
		handle(existingKey, true, flatCost(costFrame), (*Core).mac),
		handle(existingKey, true, verifyMACCost, (*Core).verifyMAC),
		handle(existingKey, true, flatCost(costECKeygen), (*Core).rotateKey),
		handle(existingKey, true, aeadCost, (*Core).aeadEncrypt),
		handle(ciphertextKey, true, aeadCost, (*Core).aeadDecrypt),
		handle(existingKey, true, aeadCost, (*Core).generateDataKey),
		handle(ciphertextKey, true, aeadCost, (*Core).reEncrypt),
		handle(existingKey, false, flatCost(costFrame), (*Core).setKeyVersion),
		handle(newKey, true, importCost, (*Core).importKey),
		handle(existingKey, true, exportCost, (*Core).exportKey),
		handle(existingKey, true, keyUseCost, (*Core).sshKey),
		handle(noKey, false, flatCost(costFrame), (*Core).sshList),
		handle(existingKey, true, keyUseCost, (*Core).sshSign),
		handle(noKey, false, sshAgentCost, (*Core).sshAgent),
		handle(existingKey, false, flatCost(costFrame), (*Core).putCertificate),
		handle(existingKey, false, flatCost(costFrame), (*Core).getCertificate),
		handle(existingKey, false, flatCost(costFrame), (*Core).deleteCertificate),
		handle(noKey, false, flatCost(costFrame), (*Core).listCertificates),
	)
}

// handle makes a table row from a typed handler; the operation is the one
// whose request type is Req.
func handle[Req, Resp any](key keyUse, usesTPM bool, cost opCost,
	h func(c *Core, ctx context.Context, call *Call, req *Req) (*Resp, error)) *operation {
	t := reflect.TypeFor[Req]()
	o, ok := protocol.OpOfRequest(t)
	if !ok {
		panic(fmt.Sprintf("agent: handler for %v, which is no operation's request", t))
	}
	spec, _ := protocol.LookupOp(o)
	return &operation{spec: spec, key: key, usesTPM: usesTPM, cost: cost,
		run: func(c *Core, ctx context.Context, call *Call) (any, error) {
			resp, err := h(c, ctx, call, call.Req.(*Req))
			if err != nil {
				return nil, err
			}
			return resp, nil
		}}
}

func buildOpTable(ops ...*operation) opTable {
	var maxOp protocol.Op
	for _, o := range ops {
		maxOp = max(maxOp, o.spec.Op)
	}
	t := make(opTable, maxOp+1)
	for _, o := range ops {
		if t[o.spec.Op] != nil {
			panic(fmt.Sprintf("agent: two handlers for %s", o.spec.Name))
		}
		t[o.spec.Op] = o
	}
	return t
}

// lookup returns the operation served for o.
func (t opTable) lookup(o protocol.Op) (*operation, bool) {
	if int(o) >= len(t) || t[o] == nil {
		return nil, false
	}
	return t[o], true
}

// names lists the served operations by name, in opcode order (Hello's
// operations).
func (t opTable) names() []string {
	var out []string
	for _, o := range t {
		if o != nil {
			out = append(out, o.spec.Name)
		}
	}
	return out
}
