package bench

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// TPMLockout is the TPM's dictionary-attack state (TPM 2.0 Part 2,
// TPM_PT_LOCKOUT_*), read directly from swtpm after the daemon stopped:
// a Counter at MaxTries means every uid's PIN keys are locked out.
type TPMLockout struct {
	Counter     uint32 `json:"lockout_counter"`
	MaxTries    uint32 `json:"max_auth_fail"`
	IntervalSec uint32 `json:"lockout_interval_sec"`
}

func readLockout(p *swtpmtest.Process) (TPMLockout, error) {
	tr, err := p.Open()
	if err != nil {
		return TPMLockout{}, fmt.Errorf("bench: open swtpm: %w", err)
	}
	defer tr.Close()
	var l TPMLockout
	for _, q := range []struct {
		pt  tpm2.TPMPT
		dst *uint32
	}{
		{tpm2.TPMPTLockoutCounter, &l.Counter},
		{tpm2.TPMPTMaxAuthFail, &l.MaxTries},
		{tpm2.TPMPTLockoutInterval, &l.IntervalSec},
	} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(q.pt), PropertyCount: 1}.Execute(tr)
		if err != nil {
			return l, fmt.Errorf("bench: tpm2.GetCapability(%#x): %w", uint32(q.pt), err)
		}
		props, err := rsp.CapabilityData.Data.TPMProperties()
		if err != nil {
			return l, fmt.Errorf("bench: tpm2.GetCapability(%#x): %w", uint32(q.pt), err)
		}
		for _, p := range props.TPMProperty {
			if p.Property == q.pt {
				*q.dst = p.Value
			}
		}
	}
	return l, nil
}
