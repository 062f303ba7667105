package core

import (
	"strings"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Rate costs, in tokens of the caller's bucket (limits.requests_per_second
// refills it, limits.burst bounds it). A token is about the TPM time of
// one ECDSA P-256 sign (~0.6 ms on swtpm); the weights follow the TPM
// time an operation takes, so a flood of RSA keygens empties a bucket as
// fast as the TPM time it spends. docs/PROTOCOL.md §7 lists them.
const (
	costFrame      = 1    // every frame, whatever it holds: Hello, refusals, bad headers
	costRSAKeyUse  = 5    // RSA sign or decrypt: 3-12 ms
	costECKeygen   = 4    // EC P-256/P-384 create: 1.5-6 ms
	costRSA2048Gen = 400  // RSA-2048 create: 80-340 ms
	costRSA3072Gen = 1500 // RSA-3072 create: ~1 s
)

// opCost is the whole cost of an admitted call, known after the lookup
// step (an RSA key costs more to use than an EC key).
type opCost func(call *Call) int

func flatCost(n int) opCost { return func(*Call) int { return n } }

// keyUseCost charges a TPM operation with a stored key by its algorithm.
func keyUseCost(call *Call) int {
	if call.key != nil && strings.HasPrefix(call.key.Algorithm, "rsa-") {
		return costRSAKeyUse
	}
	return costFrame
}

// keygenCost charges a GenerateKey by the algorithm asked for.
func keygenCost(call *Call) int {
	switch call.Req.(*protocol.GenerateKeyRequest).Algorithm {
	case protocol.AlgRSA2048:
		return costRSA2048Gen
	case protocol.AlgRSA3072:
		return costRSA3072Gen
	case protocol.AlgECP256, protocol.AlgECP384, protocol.AlgHMACSHA256, protocol.AlgAES256GCM:
		return costECKeygen
	}
	return costFrame
}

// admit is the first half of the one place a request is admitted: every
// frame is charged costFrame, refusals by the front end and unknown
// opcodes included, so that no kind of frame is free to flood with.
func (s *Session) admit(call *Call) (*operation, error) {
	if !allowN(s.limiter, call.limits(), costFrame) {
		return nil, ErrRateLimited
	}
	if call.Refused != nil {
		return nil, call.Refused
	}
	op, ok := s.core.ops.lookup(call.Op)
	if !ok {
		return nil, protocol.Errorf(protocol.StatusUnknownOp, "unknown operation %d", uint16(call.Op))
	}
	return op, nil
}

// charge is the second half, after the lookup step: the rest of the
// operation's cost, capped at the burst so that a costly operation is
// slow to repeat rather than impossible.
func (s *Session) charge(call *Call, op *operation) error {
	n := op.cost(call) - costFrame
	if n <= 0 {
		return nil
	}
	if b := call.limits().Burst; b > 0 && n > b {
		n = b
	}
	if !allowN(s.limiter, call.limits(), n) {
		return ErrRateLimited
	}
	return nil
}
