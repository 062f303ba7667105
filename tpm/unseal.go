package tpm

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Unseal returns the secret of a sealed data object.
func (t *TPM) Unseal(ctx context.Context, b *Blob, a Auth) ([]byte, error) {
	p, err := t.use(b, a, 0)
	if err != nil {
		return nil, fmt.Errorf("tpm.Unseal: %w", err)
	}
	var out []byte
	err = t.withKey(ctx, "tpm2.Unseal", p, a, true, false, func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error {
		rsp, err := tpm2.Unseal{ItemHandle: ah}.Execute(tr, extra...)
		if err == nil {
			out = rsp.OutData.Buffer
		}
		return err
	})
	return out, err
}
