package core

import (
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// findKey is the lookup step, the same for every front end: it resolves
// the namespace (the caller's own; another uid's for admins), checks the
// alias before any path is formed from it, and, for an operation on a
// stored key, reads the record and checks the purpose the operation needs,
// all before the TPM is asked. What it finds is on call (key, owner) and
// in the audit record (alias, key id).
func (c *Core) findKey(call *Call, op *operation) error {
	if op.key == noKey {
		return nil
	}
	if op.key == ciphertextKey {
		return c.findCiphertextKey(call, op)
	}
	ref := call.Req.(protocol.KeyRef)
	alias := ref.KeyAlias()
	call.alias = logValue(alias)
	owner, err := call.st.namespace(call.caller, ref.KeyNamespace())
	if err != nil {
		return err
	}
	call.ns, call.target = owner, true
	if err := checkAlias(alias); err != nil {
		return err
	}
	if op.key != existingKey {
		return nil
	}
	rec, err := c.store.Get(owner, alias)
	if err != nil {
		return fmt.Errorf("Store.Get: %w", err)
	}
	call.key, call.keyID = rec, rec.KeyID[:]
	if p := op.spec.Purpose; p != "" {
		return checkPurpose(rec, p)
	}
	return nil
}
