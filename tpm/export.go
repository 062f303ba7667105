package tpm

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// Export (TPM 2.0 Part 3 §13.1 TPM2_Duplicate, §23.15
// TPM2_PolicyDuplicationSelect). An exportable key is made neither
// fixedTPM nor fixedParent, with an authPolicy of one
// PolicyDuplicationSelect naming the backup TPM's SRK (includeObject NO):
// TPM2_Duplicate is the only command that policy authorizes (it sets the
// session's command code), and the TPM duplicates only to a parent of
// that Name. adminWithPolicy is set, so no other ADMIN-role command
// (ObjectChangeAuth, Certify) can use the key; every use is with its
// auth value (userWithAuth).

// exportable makes the template of spec exportable to spec.ExportTo.
func exportable(attrs *tpm2.TPMAObject, pub *tpm2.TPMTPublic, spec KeySpec) error {
	if len(spec.PCRs) > 0 {
		return fmt.Errorf("%w: an exportable key cannot be bound to PCRs", ErrInvalid)
	}
	if spec.Algorithm == Sealed {
		return fmt.Errorf("%w: sealed objects are not exportable", ErrUnsupported)
	}
	if len(spec.ExportTo) < 2+sha256.Size || len(spec.ExportTo) > maxNameSize {
		return fmt.Errorf("%w: export target name of %d bytes", ErrInvalid, len(spec.ExportTo))
	}
	attrs.FixedTPM, attrs.FixedParent = false, false
	attrs.UserWithAuth, attrs.AdminWithPolicy = true, true
	pub.AuthPolicy = tpm2.TPM2BDigest{Buffer: DuplicationPolicy(spec.ExportTo)}
	return nil
}

// DuplicationPolicy is the policy digest of PolicyDuplicationSelect with
// newParentName target and includeObject NO, from an empty digest:
// SHA-256(0^32 || TPM_CC_PolicyDuplicationSelect || target || 0).
func DuplicationPolicy(target []byte) []byte {
	h := sha256.New()
	h.Write(make([]byte, sha256.Size))
	binary.Write(h, binary.BigEndian, uint32(tpm2.TPMCCPolicyDuplicationSelect))
	h.Write(target)
	h.Write([]byte{0})
	return h.Sum(nil)
}

// ExportKey duplicates an exportable key for target, the backup TPM's
// SRK public area: the result imports only under that SRK
// (ImportWrapped there). A key without a duplication policy for target's
// Name is ErrNotExportable.
func (t *TPM) ExportKey(ctx context.Context, b *Blob, target *tpm2.TPMTPublic) (*wrap.Blob, error) {
	p, err := t.parsed.parse(b)
	if err != nil {
		return nil, fmt.Errorf("tpm.ExportKey: %w", err)
	}
	name, err := wrap.Name(target)
	if err != nil {
		return nil, fmt.Errorf("tpm.ExportKey: %w: %w", ErrInvalid, err)
	}
	if !p.dupPolicy || !slices.Equal(p.public.AuthPolicy.Buffer, DuplicationPolicy(name)) {
		return nil, fmt.Errorf("tpm.ExportKey: %w", ErrNotExportable)
	}
	var out *wrap.Blob
	err = t.do(ctx, "tpm2.Duplicate", func(tr transport.TPM) error {
		k, err := t.loadLocked(tr, p)
		if err != nil {
			return err
		}
		ext, err := tpm2.LoadExternal{InPublic: tpm2.New2B(*target), Hierarchy: tpm2.TPMRHNull}.Execute(tr)
		if err != nil {
			return fmt.Errorf("tpm2.LoadExternal(target): %w", err)
		}
		defer t.flushLocked(ext.ObjectHandle)
		sess := tpm2.Policy(tpm2.TPMAlgSHA256, nonceSize, func(tr transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
			_, err := tpm2.PolicyDuplicationSelect{PolicySession: h, ObjectName: k.name,
				NewParentName: ext.Name, IncludeObject: false}.Execute(tr)
			return err
		})
		rsp, err := tpm2.Duplicate{
			ObjectHandle:    tpm2.AuthHandle{Handle: k.handle, Name: k.name, Auth: sess},
			NewParentHandle: tpm2.NamedHandle{Handle: ext.ObjectHandle, Name: ext.Name},
			Symmetric:       tpm2.TPMTSymDef{Algorithm: tpm2.TPMAlgNull},
		}.Execute(tr)
		if err != nil {
			return err
		}
		out = &wrap.Blob{Public: slices.Clone(b.Public), Duplicate: tpm2.Marshal(rsp.Duplicate),
			Seed: tpm2.Marshal(rsp.OutSymSeed)}
		return nil
	})
	if errors.Is(err, ErrPolicyMismatch) {
		return nil, fmt.Errorf("%w: %w", ErrNotExportable, err)
	}
	return out, err
}
