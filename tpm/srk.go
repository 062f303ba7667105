package tpm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-tpm/tpm2"
)

// SRKHandle is where the SRK is made persistent when the owner allows it.
const SRKHandle = tpm2.TPMHandle(0x81000001)

const srkNameFile = "srk.name"

// srkState is the SRK in use: persistent, or re-created transiently.
type srkState struct {
	handle     tpm2.TPMHandle
	name       tpm2.TPM2BName
	public     tpm2.TPMTPublic
	persistent bool
}

func (s srkState) named() tpm2.NamedHandle { return tpm2.NamedHandle{Handle: s.handle, Name: s.name} }

// setupSRKLocked finds or creates the SRK and checks its Name against the
// one pinned in StateDir, pinning it on first provisioning. On a mismatch
// it fails with ErrTPMChanged and deletes nothing.
func (t *TPM) setupSRKLocked() error {
	if !t.srk.persistent && t.srk.handle != 0 {
		t.flushLocked(t.srk.handle)
	}
	t.srk = srkState{}
	pinned, err := readPinnedName(t.opts.StateDir)
	if err != nil {
		return err
	}
	st, found, err := t.readPersistentSRKLocked()
	if err != nil {
		return err
	}
	if found && (pinned == nil || bytes.Equal(st.name.Buffer, pinned)) {
		t.srk = st
		return t.pinLocked(pinned)
	}
	st, err = t.createSRKLocked()
	if err != nil {
		return err
	}
	if pinned != nil && !bytes.Equal(st.name.Buffer, pinned) {
		t.flushLocked(st.handle)
		return fmt.Errorf("%w: SRK name %x, pinned %x in %s", ErrTPMChanged,
			st.name.Buffer, pinned, filepath.Join(t.opts.StateDir, srkNameFile))
	}
	t.srk = st
	if found {
		t.log.Warn("persistent handle holds another key; using a transient SRK",
			"op", "open", "handle", fmt.Sprintf("%#x", uint32(SRKHandle)))
	} else {
		t.persistSRKLocked()
	}
	return t.pinLocked(pinned)
}

// readPersistentSRKLocked reads SRKHandle; found is false when it is empty
// or holds something that is not an ECC P-256 storage key.
func (t *TPM) readPersistentSRKLocked() (srkState, bool, error) {
	rsp, err := tpm2.ReadPublic{ObjectHandle: SRKHandle}.Execute(t.wire)
	if errors.Is(err, tpm2.TPMRCHandle) {
		return srkState{}, false, nil
	}
	if err != nil {
		return srkState{}, false, fmt.Errorf("tpm2.ReadPublic(SRK): %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return srkState{}, false, fmt.Errorf("tpm2.ReadPublic(SRK): %w", err)
	}
	if !isECCStorageKey(pub) {
		return srkState{}, true, nil
	}
	return srkState{handle: SRKHandle, name: rsp.Name, public: *pub, persistent: true}, true, nil
}

func isECCStorageKey(pub *tpm2.TPMTPublic) bool {
	a := pub.ObjectAttributes
	if pub.Type != tpm2.TPMAlgECC || !a.Restricted || !a.Decrypt || a.SignEncrypt || !a.FixedTPM {
		return false
	}
	parms, err := pub.Parameters.ECCDetail()
	return err == nil && parms.CurveID == tpm2.TPMECCNistP256
}

func (t *TPM) ownerAuth(salt *srkState) tpm2.Session {
	if len(t.ownerPW) == 0 {
		return tpm2.PasswordAuth(nil)
	}
	if salt == nil {
		return tpm2.HMAC(sessionHash, nonceSize, tpm2.Auth(t.ownerPW))
	}
	return tpm2.HMAC(sessionHash, nonceSize, tpm2.Auth(t.ownerPW), tpm2.Salted(salt.handle, salt.public))
}

func (t *TPM) createSRKLocked() (srkState, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: t.ownerAuth(nil)},
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t.wire)
	if err != nil {
		return srkState{}, fmt.Errorf("tpm2.CreatePrimary(SRK): %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		t.flushLocked(rsp.ObjectHandle)
		return srkState{}, fmt.Errorf("tpm2.CreatePrimary(SRK): %w", err)
	}
	return srkState{handle: rsp.ObjectHandle, name: rsp.Name, public: *pub}, nil
}

// persistSRKLocked moves the transient SRK to SRKHandle if the owner
// hierarchy lets us; otherwise the SRK stays transient, re-created at each
// start.
func (t *TPM) persistSRKLocked() {
	st := t.srk
	_, err := tpm2.EvictControl{
		Auth:             tpm2.AuthHandle{Handle: tpm2.TPMRHOwner, Auth: t.ownerAuth(&st)},
		ObjectHandle:     st.named(),
		PersistentHandle: SRKHandle,
	}.Execute(t.wire)
	if err != nil {
		t.log.Warn("cannot persist the SRK; re-creating it at each start", "op", "open", "err", err)
		return
	}
	t.flushLocked(st.handle)
	t.srk.handle, t.srk.persistent = SRKHandle, true
}

// pinLocked records the SRK Name at first provisioning.
func (t *TPM) pinLocked(pinned []byte) error {
	if pinned != nil {
		return nil
	}
	t.log.Info("pinned the SRK name", "op", "open", "srk_name", hex.EncodeToString(t.srk.name.Buffer))
	return writeFileAtomic(filepath.Join(t.opts.StateDir, srkNameFile), []byte(hex.EncodeToString(t.srk.name.Buffer)+"\n"))
}

func readPinnedName(dir string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, srkNameFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pinned SRK name: %w", err)
	}
	name, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(name) == 0 {
		return nil, fmt.Errorf("read pinned SRK name: %s is corrupt", filepath.Join(dir, srkNameFile))
	}
	return name, nil
}

// writeFileAtomic writes data with mode 0600 via a rename.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// SRKName returns the pinned SRK Name.
func (t *TPM) SRKName() []byte { return bytes.Clone(t.srkName) }

// SRKPublic returns the SRK's public area as a marshalled TPM2B_PUBLIC:
// what another machine wraps keys for (`tpm2_duplicate -U`, `tpmkey wrap
// --for`), and what names this TPM as a backup target.
func (t *TPM) SRKPublic() []byte { return bytes.Clone(t.srkPub) }
