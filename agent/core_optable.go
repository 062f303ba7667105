package agent

import (
	"context"
	"fmt"
	"reflect"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// keyUse is how an operation finds the key it acts on, in the lookup step.
type keyUse uint8

const (
	noKey       keyUse = iota // no key
	existingKey               // a stored key in the namespace (admins may name another uid), with the op's purpose
	newKey                    // an alias in the caller's own namespace, for a key to be made
	targetKey                 // a namespace and alias, looked up by the operation itself (DeleteKey)
)

// operation is the core's half of one row of the operation table: the
// protocol's half (opcode, name, types, purpose) is spec, from
// protocol/ops.go; the core adds how the key is found, whether the TPM
// is used, the rate cost in tokens, and the handler.
type operation struct {
	spec    *protocol.OpSpec
	key     keyUse
	usesTPM bool
	cost    int
	run     func(c *Core, ctx context.Context, call *Call) (any, error)
}

// opTable is indexed by opcode.
type opTable []*operation

// newOpTable is the one list of the core's operations, one line each. The
// request type of the handler names the operation.
func newOpTable() opTable {
	return buildOpTable(
		handle(noKey, false, 0, (*Core).hello),
		handle(newKey, true, 1, (*Core).generateKey),
		handle(existingKey, false, 1, (*Core).getKey),
		handle(noKey, false, 1, (*Core).listKeys),
		handle(targetKey, false, 1, (*Core).deleteKey),
		handle(existingKey, true, 1, (*Core).sign),
		handle(existingKey, false, 1, (*Core).verify),
		handle(existingKey, true, 1, (*Core).decrypt),
		handle(existingKey, false, 1, (*Core).encrypt),
		handle(existingKey, true, 1, (*Core).ecdh),
		handle(newKey, true, 1, (*Core).seal),
		handle(existingKey, true, 1, (*Core).unseal),
		handle(noKey, true, 1, (*Core).getRandom),
		handle(noKey, false, 1, (*Core).status),
	)
}

// handle makes a table row from a typed handler; the operation is the one
// whose request type is Req.
func handle[Req, Resp any](key keyUse, usesTPM bool, cost int,
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
