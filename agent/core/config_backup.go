package core

import (
	"bytes"
	"fmt"
	"os"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// Backup is the [backup] table: the one backup TPM an admin names for
// this machine (docs/BACKUP.md).
type Backup struct {
	// Target is a file holding the backup TPM's SRK public key
	// (TPM2B_PUBLIC, or PEM of a standard ECC P-256 SRK). When set,
	// GenerateKey `exportable` makes keys exportable to it, and
	// `backup_to` may name no other TPM. "": none.
	Target string `toml:"target"`

	// Read by validate; immutable after.
	public []byte // the file's contents
	name   []byte // the target SRK's TPM Name
}

func (b *Backup) validate() error {
	if b.Target == "" {
		return nil
	}
	data, err := os.ReadFile(b.Target)
	if err != nil {
		return fieldError("backup.target", "%v", err)
	}
	pub, err := wrap.ParseParent(data)
	if err != nil {
		return fieldError("backup.target", "%s: %v", b.Target, err)
	}
	name, err := wrap.Name(pub)
	if err != nil {
		return fieldError("backup.target", "%s: %v", b.Target, err)
	}
	b.public, b.name = data, name
	return nil
}

// exportTarget is the Name of the backup TPM a new key is made
// exportable to: the request's backup_to, or the configured target when
// it asks for exportable; none for a key that stays. With a configured
// target, backup_to may name only that one.
func (st *Settings) exportTarget(m *protocol.GenerateKeyRequest) ([]byte, error) {
	cfg := st.cfg.Backup
	if len(m.BackupTo) == 0 {
		if !m.Exportable {
			return nil, nil
		}
		if cfg.name == nil {
			return nil, protocol.Errorf(protocol.StatusBadRequest, "exportable: no backup target is configured (backup.target); give backup_to")
		}
		return bytes.Clone(cfg.name), nil
	}
	pub, err := wrap.ParseParent(m.BackupTo)
	if err != nil {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "backup_to: %v", err)
	}
	name, err := wrap.Name(pub)
	if err != nil {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "backup_to: %v", err)
	}
	if cfg.name != nil && !bytes.Equal(name, cfg.name) {
		return nil, fmt.Errorf("backup_to names SRK %x, but this machine backs up only to %x (backup.target): %w",
			name, cfg.name, ErrPermissionDenied)
	}
	return name, nil
}
