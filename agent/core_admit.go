package agent

import (
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// admit is the one place a request is admitted: a refusal by the front end
// is answered as it is; an opcode the core does not serve is UNKNOWN_OP;
// then the caller's rate bucket is charged the operation's cost.
func (s *Session) admit(call *Call) (*operation, error) {
	if call.Refused != nil {
		return nil, call.Refused
	}
	op, ok := s.core.ops.lookup(call.Op)
	if !ok {
		return nil, protocol.Errorf(protocol.StatusUnknownOp, "unknown operation %d", uint16(call.Op))
	}
	if op.cost > 0 && !allowN(s.limiter, call.limits(), op.cost) {
		return nil, ErrRateLimited
	}
	return op, nil
}
