package swtpmtest

import (
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// TransientHandles lists the transient objects loaded in the TPM.
func (p *Process) TransientHandles() ([]tpm2.TPMHandle, error) {
	return p.handles(tpm2.TPMHTTransient)
}

// LoadedSessions lists the sessions loaded in the TPM.
func (p *Process) LoadedSessions() ([]tpm2.TPMHandle, error) {
	return p.handles(tpm2.TPMHTLoadedSession)
}

func (p *Process) handles(ht tpm2.TPMHT) ([]tpm2.TPMHandle, error) {
	tr, err := p.Open()
	if err != nil {
		return nil, fmt.Errorf("swtpmtest: open: %w", err)
	}
	defer tr.Close()
	rsp, err := tpm2.GetCapability{
		Capability:    tpm2.TPMCapHandles,
		Property:      uint32(ht) << 24,
		PropertyCount: 64,
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("swtpmtest: tpm2.GetCapability: %w", err)
	}
	hl, err := rsp.CapabilityData.Data.Handles()
	if err != nil {
		return nil, fmt.Errorf("swtpmtest: handles: %w", err)
	}
	return hl.Handle, nil
}
