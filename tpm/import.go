package tpm

import (
	"context"
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// Import (TPM 2.0 Part 3 §13.3). An imported object cannot be fixedTPM or
// fixedParent: TPM2_Import refuses both. It is made with an empty
// authPolicy instead (or a PCR policy, which holds no PolicyCommandCode),
// so TPM2_Duplicate, which needs a policy session in the DUP role, can
// never be authorized for it: it stays in this TPM all the same.

// ImportKey wraps key (an *ecdsa.PrivateKey, an *rsa.PrivateKey, or the
// bytes of an HMACSHA256 key) for this TPM's SRK in software and imports
// it. The sensitive area is wiped when the TPM has it; the caller wipes
// key. spec says the purposes, PIN (auth value) and PCRs, as CreateKey.
func (t *TPM) ImportKey(ctx context.Context, spec KeySpec, key any) (*Blob, crypto.PublicKey, error) {
	if spec.Algorithm == Sealed {
		return nil, nil, fmt.Errorf("tpm.ImportKey: %w: sealed data is not imported", ErrInvalid)
	}
	if err := checkKeySpec(spec); err != nil {
		return nil, nil, fmt.Errorf("tpm.ImportKey: %w", err)
	}
	if !t.algs[spec.Algorithm] {
		return nil, nil, fmt.Errorf("tpm.ImportKey: %w: this TPM cannot hold %v keys", ErrUnsupported, spec.Algorithm)
	}
	attrs := wrap.Attributes{
		Sign:      spec.Purposes&(PurposeSign|PurposeMAC) != 0,
		Decrypt:   spec.Purposes&(PurposeDecrypt|PurposeAgree) != 0,
		AuthValue: spec.PIN,
	}
	var blob *Blob
	err := t.do(ctx, "tpm2.Import", func(tr transport.TPM) error {
		a := attrs
		if len(spec.PCRs) > 0 {
			digest, err := policyDigest(tr, spec.PCRs, len(spec.PIN) > 0)
			if err != nil {
				return err
			}
			a.AuthPolicy, a.PolicyOnly = digest, true
		}
		pub, sens, err := wrap.Object(key, a)
		defer wrap.Wipe(&sens)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		if got := algOf(&pub); got != spec.Algorithm {
			return fmt.Errorf("%w: key is %v, not %v", ErrInvalid, got, spec.Algorithm)
		}
		w, err := wrap.Wrap(rand.Reader, &t.srk.public, pub, sens)
		if err != nil {
			return err
		}
		blob, err = t.importLocked(tr, w)
		return err
	})
	if err != nil {
		return nil, nil, importErr(err)
	}
	return t.checkImported(blob)
}

// ImportWrapped imports a key wrapped for this TPM's SRK elsewhere (by
// tpm2_duplicate, `tpmkey wrap` or ExportKey). Its public area must be
// one this package uses (parseBlob's rules); a blob wrapped for another
// SRK fails the TPM's integrity check: ErrImport.
func (t *TPM) ImportWrapped(ctx context.Context, w *wrap.Blob) (*Blob, crypto.PublicKey, error) {
	pub, _, _, err := w.Check()
	if err != nil {
		return nil, nil, fmt.Errorf("tpm.ImportWrapped: %w: %w", ErrInvalid, err)
	}
	probe := &parsedBlob{public: *pub}
	if err := probe.classify(); err != nil {
		return nil, nil, fmt.Errorf("tpm.ImportWrapped: %w: a key of a kind tpmkeyd does not use: %w", ErrImport, err)
	}
	if !probe.movable || probe.alg == Sealed {
		return nil, nil, fmt.Errorf("tpm.ImportWrapped: %w: not a duplicable key", ErrImport)
	}
	if probe.hasPolicy {
		// Bound to a policy of the machine it came from (PCRs): it could
		// never be used here.
		return nil, nil, fmt.Errorf("tpm.ImportWrapped: %w: a key usable only with a policy session", ErrImport)
	}
	if !t.algs[probe.alg] {
		return nil, nil, fmt.Errorf("tpm.ImportWrapped: %w: this TPM cannot hold %v keys", ErrUnsupported, probe.alg)
	}
	var blob *Blob
	err = t.do(ctx, "tpm2.Import", func(tr transport.TPM) error {
		var err error
		blob, err = t.importLocked(tr, w)
		return err
	})
	if err != nil {
		return nil, nil, importErr(err)
	}
	return t.checkImported(blob)
}

// importLocked runs TPM2_Import under the SRK, through the salted session
// as every command that carries a secret does (the seed and the duplicate
// are already encrypted to the SRK).
func (t *TPM) importLocked(tr transport.TPM, w *wrap.Blob) (*Blob, error) {
	pubBytes, dup, seed, err := w.Check()
	if err != nil {
		return nil, err
	}
	s, err := t.sessionLocked()
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.Import{
		ParentHandle: t.srk.named(),
		ObjectPublic: tpm2.New2B(*pubBytes),
		Duplicate:    tpm2.TPM2BPrivate{Buffer: dup},
		InSymSeed:    tpm2.TPM2BEncryptedSecret{Buffer: seed},
		Symmetric:    tpm2.TPMTSymDef{Algorithm: tpm2.TPMAlgNull},
	}.Execute(tr, s.use(nil, false, true))
	if err != nil {
		return nil, err
	}
	return &Blob{
		Public:     slices.Clone(w.Public),
		Private:    tpm2.Marshal(rsp.OutPrivate),
		ParentName: slices.Clone(t.srk.name.Buffer),
	}, nil
}

// checkImported parses the new blob as every later use will.
func (t *TPM) checkImported(b *Blob) (*Blob, crypto.PublicKey, error) {
	p, err := parseBlob(b)
	if err != nil {
		return nil, nil, fmt.Errorf("tpm.Import: %w", err)
	}
	if p.alg == HMACSHA256 {
		return b, nil, nil
	}
	pub, err := p.publicKey()
	if err != nil {
		return nil, nil, fmt.Errorf("tpm.Import: %w", err)
	}
	return b, pub, nil
}

// importErr marks the TPM's refusal of the blob itself (a format-1 error:
// integrity, value, size, attributes) as ErrImport.
func importErr(err error) error {
	var f1 tpm2.TPMFmt1Error
	if errors.As(err, &f1) && !errors.Is(err, ErrImport) {
		return fmt.Errorf("%w: %w", ErrImport, err)
	}
	return err
}

// algOf is the Algorithm of a public area Object made.
func algOf(pub *tpm2.TPMTPublic) Algorithm {
	switch pub.Type {
	case tpm2.TPMAlgECC:
		if e, err := pub.Parameters.ECCDetail(); err == nil {
			switch e.CurveID {
			case tpm2.TPMECCNistP256:
				return ECCP256
			case tpm2.TPMECCNistP384:
				return ECCP384
			}
		}
	case tpm2.TPMAlgRSA:
		if r, err := pub.Parameters.RSADetail(); err == nil {
			switch r.KeyBits {
			case 2048:
				return RSA2048
			case 3072:
				return RSA3072
			}
		}
	case tpm2.TPMAlgKeyedHash:
		return HMACSHA256
	}
	return 0
}

// Description is what a blob's public area says of the key.
type Description struct {
	Algorithm Algorithm
	Purposes  Purpose
	HasPIN    bool
	Movable   bool // neither fixedTPM nor fixedParent: imported or exportable
	// Exportable: its authPolicy serves TPM2_Duplicate (PolicyDuplicationSelect).
	Exportable bool
}

// Describe parses b without touching the TPM.
func Describe(b *Blob) (Description, error) {
	p, err := parseBlob(b)
	if err != nil {
		return Description{}, err
	}
	return Description{Algorithm: p.alg, Purposes: p.purposes, HasPIN: p.hasPIN, Movable: p.movable, Exportable: p.dupPolicy}, nil
}
