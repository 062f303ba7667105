package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// raw is the floor: go-tpm straight to swtpm #1, no agent. The SRK and the
// ECC key stay loaded; the RSA key is loaded only around RSA phases, since
// TPM2_Create needs a free object slot and the TPM guarantees only 3. The
// blobs of both keys are kept: the agent gets the same keys (samekeys.go).
type raw struct {
	tr     transport.TPMCloser
	srk    tpm2.NamedHandle
	ecc    tpm2.NamedHandle
	eccPub tpm2.TPM2BPublic
	eccPri tpm2.TPM2BPrivate
	rsa    tpm2.NamedHandle // loaded between loadRSA and flushRSA
	rsaPub tpm2.TPM2BPublic
	rsaPri tpm2.TPM2BPrivate
	mac    tpm2.NamedHandle // loaded between loadMAC and flushMAC
	macPub tpm2.TPM2BPublic
	macPri tpm2.TPM2BPrivate
	digest []byte
}

// openRaw creates the SRK and loads one ECC P-256 and one RSA-2048 signing
// key. Close flushes them.
func openRaw(ctx context.Context, tr transport.TPMCloser) (*raw, error) {
	d := sha256.Sum256([]byte("tpmkey-bench"))
	r := &raw{tr: tr, digest: d[:]}
	var cp *tpm2.CreatePrimaryResponse
	err := retry(ctx, func() (err error) {
		cp, err = tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tpm2.CreatePrimary: %w", err)
	}
	r.srk = tpm2.NamedHandle{Handle: cp.ObjectHandle, Name: cp.Name}
	cr, err := r.create(ctx, eccTemplate())
	if err != nil {
		r.Close()
		return nil, err
	}
	r.eccPub, r.eccPri = cr.OutPublic, cr.OutPrivate
	if r.ecc, err = r.load(ctx, r.eccPub, r.eccPri); err != nil {
		r.Close()
		return nil, err
	}
	if cr, err = r.create(ctx, rsaTemplate()); err != nil {
		r.Close()
		return nil, err
	}
	r.rsaPub, r.rsaPri = cr.OutPublic, cr.OutPrivate
	if cr, err = r.create(ctx, hmacTemplate()); err != nil {
		r.Close()
		return nil, err
	}
	r.macPub, r.macPri = cr.OutPublic, cr.OutPrivate
	return r, nil
}

// loadRSA loads the RSA key for an RSA phase; flushRSA unloads it.
func (r *raw) loadRSA(ctx context.Context) (err error) {
	r.rsa, err = r.load(ctx, r.rsaPub, r.rsaPri)
	return err
}

func (r *raw) flushRSA() error {
	h := r.rsa.Handle
	r.rsa = tpm2.NamedHandle{}
	if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(r.tr); err != nil {
		return fmt.Errorf("tpm2.FlushContext: %w", err)
	}
	return nil
}

func (r *raw) load(ctx context.Context, pub tpm2.TPM2BPublic, pri tpm2.TPM2BPrivate) (tpm2.NamedHandle, error) {
	var lr *tpm2.LoadResponse
	err := retry(ctx, func() (err error) {
		lr, err = tpm2.Load{ParentHandle: r.srk, InPrivate: pri, InPublic: pub}.Execute(r.tr)
		return err
	})
	if err != nil {
		return tpm2.NamedHandle{}, fmt.Errorf("tpm2.Load: %w", err)
	}
	return tpm2.NamedHandle{Handle: lr.ObjectHandle, Name: lr.Name}, nil
}

func (r *raw) create(ctx context.Context, tmpl tpm2.TPMTPublic) (*tpm2.CreateResponse, error) {
	var cr *tpm2.CreateResponse
	err := retry(ctx, func() (err error) {
		cr, err = tpm2.Create{ParentHandle: r.srk, InPublic: tpm2.New2B(tmpl)}.Execute(r.tr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("tpm2.Create: %w", err)
	}
	return cr, nil
}

// signECC is one TPM2_Sign, ECDSA P-256 over SHA-256, password auth.
func (r *raw) signECC(ctx context.Context, _, _ int) error {
	return r.sign(ctx, r.ecc, tpm2.TPMTSigScheme{
		Scheme:  tpm2.TPMAlgECDSA,
		Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
	})
}

// signRSA is one TPM2_Sign, RSASSA-PSS over SHA-256, password auth.
func (r *raw) signRSA(ctx context.Context, _, _ int) error {
	return r.sign(ctx, r.rsa, tpm2.TPMTSigScheme{
		Scheme:  tpm2.TPMAlgRSAPSS,
		Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgRSAPSS, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256}),
	})
}

func (r *raw) sign(ctx context.Context, key tpm2.NamedHandle, scheme tpm2.TPMTSigScheme) error {
	err := retry(ctx, func() error {
		_, err := tpm2.Sign{
			KeyHandle:  tpm2.AuthHandle{Handle: key.Handle, Name: key.Name, Auth: tpm2.PasswordAuth(nil)},
			Digest:     tpm2.TPM2BDigest{Buffer: r.digest},
			InScheme:   scheme,
			Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
		}.Execute(r.tr)
		return err
	})
	if err != nil {
		return fmt.Errorf("tpm2.Sign: %w", err)
	}
	return nil
}

// floor runs one raw phase of ref, loading what it needs around it.
func (r *raw) floor(ctx context.Context, ref Reference, run func(op) (Sample, error)) (Sample, error) {
	switch ref {
	case RawECCSign:
		return run(r.signECC)
	case RawECCCreate:
		return run(r.createECC)
	case RawRSASign:
		if err := r.loadRSA(ctx); err != nil {
			return Sample{}, err
		}
		s, err := run(r.signRSA)
		if ferr := r.flushRSA(); err == nil {
			err = ferr
		}
		return s, err
	case RawHMAC:
		var err error
		if r.mac, err = r.load(ctx, r.macPub, r.macPri); err != nil {
			return Sample{}, err
		}
		s, err := run(r.hmac)
		if _, ferr := (tpm2.FlushContext{FlushHandle: r.mac.Handle}).Execute(r.tr); err == nil && ferr != nil {
			err = fmt.Errorf("tpm2.FlushContext: %w", ferr)
		}
		r.mac = tpm2.NamedHandle{}
		return s, err
	}
	return Sample{}, fmt.Errorf("bench: unknown floor %q", ref)
}

// hmac is one TPM2_HMAC of 32 bytes with the loaded HMAC key.
func (r *raw) hmac(ctx context.Context, _, _ int) error {
	err := retry(ctx, func() error {
		_, err := tpm2.Hmac{
			Handle:  tpm2.AuthHandle{Handle: r.mac.Handle, Name: r.mac.Name, Auth: tpm2.PasswordAuth(nil)},
			Buffer:  tpm2.TPM2BMaxBuffer{Buffer: r.digest},
			HashAlg: tpm2.TPMAlgSHA256,
		}.Execute(r.tr)
		return err
	})
	if err != nil {
		return fmt.Errorf("tpm2.Hmac: %w", err)
	}
	return nil
}

// createECC is one TPM2_Create of an ECC P-256 signing key (not loaded).
func (r *raw) createECC(ctx context.Context, _, _ int) error {
	_, err := r.create(ctx, eccTemplate())
	return err
}

// Close flushes every object it loaded. The transport stays open.
func (r *raw) Close() error {
	var errs []error
	for _, h := range []tpm2.NamedHandle{r.mac, r.rsa, r.ecc, r.srk} {
		if h.Handle == 0 {
			continue
		}
		if _, err := (tpm2.FlushContext{FlushHandle: h.Handle}).Execute(r.tr); err != nil {
			errs = append(errs, fmt.Errorf("tpm2.FlushContext(%#x): %w", uint32(h.Handle), err))
		}
	}
	return errors.Join(errs...)
}

// hmacTemplate matches what the agent creates for an hmac-sha256 key.
func hmacTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
			UserWithAuth: true, NoDA: true, SignEncrypt: true},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{
				Scheme:  tpm2.TPMAlgHMAC,
				Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256}),
			},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{}),
	}
}

// eccTemplate and rsaTemplate match what the agent creates for a sign key:
// scheme NULL in the key, chosen at each Sign.
func eccTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgECC, NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: signAttrs(),
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgECC, &tpm2.TPMSECCParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTECCScheme{Scheme: tpm2.TPMAlgNull},
			CurveID:   tpm2.TPMECCNistP256,
			KDF:       tpm2.TPMTKDFScheme{Scheme: tpm2.TPMAlgNull},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{}),
	}
}

func rsaTemplate() tpm2.TPMTPublic {
	return tpm2.TPMTPublic{
		Type: tpm2.TPMAlgRSA, NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: signAttrs(),
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
			KeyBits:   2048,
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgRSA, &tpm2.TPM2BPublicKeyRSA{}),
	}
}

func signAttrs() tpm2.TPMAObject {
	return tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true,
		UserWithAuth: true, NoDA: true, SignEncrypt: true}
}

// retry repeats fn while swtpm answers RETRY, YIELDED or TESTING (about one
// sign in 200 on swtpm), with a short bounded backoff.
func retry(ctx context.Context, fn func() error) error {
	delay := 100 * time.Microsecond
	for attempt := 0; ; attempt++ {
		err := fn()
		if attempt == 20 || !(errors.Is(err, tpm2.TPMRCRetry) || errors.Is(err, tpm2.TPMRCYielded) || errors.Is(err, tpm2.TPMRCTesting)) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 10*time.Millisecond)
	}
}
