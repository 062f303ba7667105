package core

import (
	"slices"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestOpTableCoversProtocol: the core serves exactly the protocol's
// served operations, one handler each, and Hello lists them in order.
func TestOpTableCoversProtocol(t *testing.T) {
	ops := newOpTable()
	var want []string
	for _, spec := range protocol.Served() {
		want = append(want, spec.Name)
		o, ok := ops.lookup(spec.Op)
		if !ok {
			t.Errorf("ops.lookup(%s) = none, want a handler", spec.Name)
			continue
		}
		if o.spec.Op != spec.Op {
			t.Errorf("ops.lookup(%s).spec.Op = %v, want %v", spec.Name, o.spec.Op, spec.Op)
		}
	}
	if got := ops.names(); !slices.Equal(got, want) {
		t.Errorf("ops.names() = %v, want %v", got, want)
	}
	for _, spec := range protocol.AllOps() {
		if _, ok := ops.lookup(spec.Op); ok && spec.Reserved {
			t.Errorf("ops.lookup(%s) found a handler for a reserved opcode", spec.Name)
		}
	}
}
