package tpm

import (
	"bytes"
	"context"
	"crypto"
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// use parses b and checks, before the TPM is asked, that it may serve
// purpose need (0: unseal) with the auth presented.
func (t *TPM) use(b *Blob, a Auth, need Purpose) (*parsedBlob, error) {
	p, err := t.parsed.parse(b)
	if err != nil {
		return nil, err
	}
	return checkUse(p, a, need)
}

func checkUse(p *parsedBlob, a Auth, need Purpose) (*parsedBlob, error) {
	switch {
	case need == 0 && p.alg != Sealed:
		return nil, fmt.Errorf("%w: %v key is not sealed data", ErrPurpose, p.alg)
	case need != 0 && p.purposes&need == 0:
		return nil, fmt.Errorf("%w: %v key lacks purpose %#x", ErrPurpose, p.alg, need)
	case len(a.PIN) > MaxPINSize:
		return nil, fmt.Errorf("%w: PIN longer than %d bytes", ErrAuthFail, MaxPINSize)
	case p.hasPIN && len(a.PIN) == 0:
		// Refused here so that a forgotten PIN costs no DA strike.
		return nil, fmt.Errorf("%w: key needs a PIN", ErrAuthFail)
	case p.hasPolicy && len(a.PCRs) == 0:
		return nil, fmt.Errorf("%w: key is bound to PCRs but none were given", ErrPolicyMismatch)
	}
	if err := checkPCRs(a.PCRs); err != nil {
		return nil, err
	}
	return p, nil
}

// loadLocked returns p's loaded handle, loading it (and evicting the least
// recently used key when the cache is full) if needed.
func (t *TPM) loadLocked(tr transport.TPM, p *parsedBlob) (*loadedKey, error) {
	if !bytes.Equal(p.parentName, t.srk.name.Buffer) {
		return nil, fmt.Errorf("%w: key was made under SRK %x, this TPM's is %x", ErrTPMChanged, p.parentName, t.srk.name.Buffer)
	}
	if k, ok := t.cache.get(p.id); ok {
		return k, nil
	}
	for t.cache.full() {
		t.evictOldestLocked()
	}
	hs, parms, err := sendRaw(tr, appendLoadCmd(make([]byte, 0, 64+len(p.loadParms)), t.srk.handle, p.loadParms), 1)
	if err != nil {
		return nil, fmt.Errorf("tpm2.Load: %w", err)
	}
	h, name, err := parseLoadRsp(hs, parms)
	if err != nil {
		if len(hs) == 4 {
			t.flushLocked(tpm2.TPMHandle(binary.BigEndian.Uint32(hs)))
		}
		return nil, fmt.Errorf("tpm2.Load: %w", err)
	}
	k := &loadedKey{id: p.id, handle: h, name: tpm2.TPM2BName{Buffer: name}}
	t.cache.put(k)
	return k, nil
}

// authLocked picks how to authorize a loaded key: a one-shot salted policy
// session for PCR-bound keys, the kept salted session (HMAC with the PIN)
// for PIN keys, else an empty password. encOut/decIn ask for parameter
// encryption of the response/command, riding on the salted session.
func (t *TPM) authLocked(p *parsedBlob, k *loadedKey, a Auth, encOut, decIn bool) (tpm2.AuthHandle, []tpm2.Session, error) {
	ah := tpm2.AuthHandle{Handle: k.handle, Name: k.name}
	if p.hasPIN && !p.hasPolicy {
		s, err := t.sessionLocked()
		if err != nil {
			return ah, nil, err
		}
		ah.Auth = s.use(a.PIN, encOut, decIn)
		return ah, nil, nil
	}
	if p.hasPolicy {
		ah.Auth = t.policyAuth(a.PCRs, a.PIN, p.hasPIN)
	} else {
		ah.Auth = tpm2.PasswordAuth(nil)
	}
	if !encOut && !decIn {
		return ah, nil, nil
	}
	s, err := t.sessionLocked()
	if err != nil {
		return ah, nil, err
	}
	return ah, []tpm2.Session{s.use(nil, encOut, decIn)}, nil
}

// withKey runs f with p loaded and authorized, in a turn of the TPM.
func (t *TPM) withKey(ctx context.Context, op string, p *parsedBlob, a Auth, encOut, decIn bool,
	f func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error) error {
	return t.do(ctx, op, func(tr transport.TPM) error {
		k, err := t.loadLocked(tr, p)
		if err != nil {
			return err
		}
		ah, extra, err := t.authLocked(p, k, a, encOut, decIn)
		if err != nil {
			return err
		}
		return f(tr, ah, extra)
	})
}

// Forget flushes b from the key cache if it is loaded (after a delete).
func (t *TPM) Forget(b *Blob) {
	if b == nil {
		return
	}
	id := blobID(b)
	t.parsed.forget(id)
	_ = t.withTurn(context.Background(), "tpm.Forget", false, func() error {
		if k, ok := t.cache.remove(id); ok {
			t.flushLocked(k.handle)
		}
		return nil
	})
}

func hashAlg(h crypto.Hash) tpm2.TPMIAlgHash {
	switch h {
	case crypto.SHA1:
		return tpm2.TPMAlgSHA1
	case crypto.SHA384:
		return tpm2.TPMAlgSHA384
	case crypto.SHA512:
		return tpm2.TPMAlgSHA512
	}
	return tpm2.TPMAlgSHA256
}
