package tpm

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

const maxPCR = 23

func checkPCRs(pcrs []int) error {
	for _, p := range pcrs {
		if p < 0 || p > maxPCR {
			return fmt.Errorf("%w: PCR %d (0..%d)", ErrInvalid, p, maxPCR)
		}
	}
	return nil
}

// pcrSelection selects pcrs in the SHA-256 bank.
func pcrSelection(pcrs []int) tpm2.TPMLPCRSelection {
	bitmap := make([]byte, 3)
	for _, p := range pcrs {
		bitmap[p/8] |= 1 << (p % 8)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{Hash: tpm2.TPMAlgSHA256, PCRSelect: bitmap}}}
}

// policyDigest computes, in a trial session, PolicyPCR over the current
// values of pcrs, followed by PolicyAuthValue when the key has a PIN.
func policyDigest(tr transport.TPM, pcrs []int, withPIN bool) ([]byte, error) {
	sess, closer, err := tpm2.PolicySession(tr, tpm2.TPMAlgSHA256, nonceSize, tpm2.Trial())
	if err != nil {
		return nil, fmt.Errorf("tpm2.StartAuthSession(trial): %w", err)
	}
	defer closer()
	if err := applyPolicy(tr, sess.Handle(), pcrs, withPIN); err != nil {
		return nil, err
	}
	rsp, err := tpm2.PolicyGetDigest{PolicySession: sess.Handle()}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("tpm2.PolicyGetDigest: %w", err)
	}
	return rsp.PolicyDigest.Buffer, nil
}

func applyPolicy(tr transport.TPM, h tpm2.TPMHandle, pcrs []int, withPIN bool) error {
	if _, err := (tpm2.PolicyPCR{PolicySession: h, Pcrs: pcrSelection(pcrs)}).Execute(tr); err != nil {
		return fmt.Errorf("tpm2.PolicyPCR: %w", err)
	}
	if withPIN {
		if _, err := (tpm2.PolicyAuthValue{PolicySession: h}).Execute(tr); err != nil {
			return fmt.Errorf("tpm2.PolicyAuthValue: %w", err)
		}
	}
	return nil
}

// policyAuth is a one-shot policy session, salted to the SRK so that a PIN
// bound by PolicyAuthValue is not exposed to an offline guess from the bus.
func (t *TPM) policyAuth(pcrs []int, pin []byte, withPIN bool) tpm2.Session {
	cb := func(tr transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
		return applyPolicy(tr, tpm2.TPMHandle(h), pcrs, withPIN)
	}
	opts := []tpm2.AuthOption{tpm2.Salted(t.srk.handle, t.srk.public)}
	if withPIN {
		opts = append(opts, tpm2.Auth(pin))
	}
	return tpm2.Policy(tpm2.TPMAlgSHA256, nonceSize, cb, opts...)
}
