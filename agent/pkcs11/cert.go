package pkcs11

import "github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"

// certAttr answers a certificate object's attributes.
func (o *object) certAttr(typ uint32) (rpc.Attribute, bool) { return rpc.Attribute{}, false }

func (t *task) deleteCert(o *object) uint64 { return ckrFunctionNotSupported }

func (t *task) createObject() uint64 {
	t.in.Ulong()
	t.in.Attributes()
	if !t.done() {
		return ckrDeviceError
	}
	return ckrFunctionNotSupported
}
