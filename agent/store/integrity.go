package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// IntegrityKeySize is the length of the store's MAC key.
const IntegrityKeySize = 32

// integrityFileName is the sealed MAC key, directly under the state dir.
const integrityFileName = "integrity.key"

const (
	integrityVersion     = 1
	maxIntegrityFileSize = 16 << 10
)

// integrityFile is the CBOR content of DIR/integrity.key: a TPM sealed data
// object holding the MAC key, useless without this machine's TPM.
type integrityFile struct {
	Version    uint   `cbor:"version"`
	TPMPublic  []byte `cbor:"tpm_public"`
	TPMPrivate []byte `cbor:"tpm_private"`
	SRKName    []byte `cbor:"srk_name"`
}

// Sealer is the part of the TPM the integrity key needs; *tpm.TPM is one.
type Sealer interface {
	Seal(ctx context.Context, secret []byte, spec tpm.KeySpec) (*tpm.Blob, error)
	Unseal(ctx context.Context, b *tpm.Blob, a tpm.Auth) ([]byte, error)
	SRKName() []byte
}

var _ Sealer = (*tpm.TPM)(nil)

// LoadIntegrityKey unseals the 32-byte store MAC key from DIR/integrity.key,
// creating and sealing a new one on first start. The key lives only in
// memory; the caller should wipe the returned slice once Open has
// copied it. A TPM that was cleared or replaced gives tpm.ErrTPMChanged.
//
// A missing integrity.key while records exist is ErrIntegrityKeyMissing,
// not a new key: under a new key every record would be refused.
func LoadIntegrityKey(ctx context.Context, t Sealer, dir string) ([]byte, error) {
	c, err := newRecordCodec()
	if err != nil {
		return nil, err
	}
	if err := mkdirPrivate(dir); err != nil {
		return nil, fmt.Errorf("store.LoadIntegrityKey: %w", err)
	}
	path := filepath.Join(dir, integrityFileName)
	data, err := readSmallFile(path, maxIntegrityFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		if err := checkNoRecords(filepath.Join(dir, "keys")); err != nil {
			return nil, fmt.Errorf("store.LoadIntegrityKey: %s: %w", path, err)
		}
		var key []byte
		key, err = createIntegrityKey(ctx, t, c, dir)
		if !errors.Is(err, fs.ErrExist) {
			return key, err
		}
		// Another process created it first: use theirs.
		data, err = readSmallFile(path, maxIntegrityFileSize)
	}
	if err != nil {
		return nil, fmt.Errorf("store.LoadIntegrityKey: read %s: %w", path, err)
	}
	return unsealIntegrityKey(ctx, t, c, path, data)
}

func createIntegrityKey(ctx context.Context, t Sealer, c recordCodec, dir string) ([]byte, error) {
	key := make([]byte, IntegrityKeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("store.LoadIntegrityKey: rand.Read: %w", err)
	}
	blob, err := t.Seal(ctx, key, tpm.KeySpec{Algorithm: tpm.Sealed})
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("store.LoadIntegrityKey: tpm.Seal: %w", err)
	}
	data, err := c.enc.Marshal(&integrityFile{
		Version:    integrityVersion,
		TPMPublic:  blob.Public,
		TPMPrivate: blob.Private,
		SRKName:    blob.ParentName,
	})
	if err == nil {
		err = writeNewFileAt(dir, integrityFileName, data)
	}
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("store.LoadIntegrityKey: write %s: %w", integrityFileName, err)
	}
	return key, nil
}

func unsealIntegrityKey(ctx context.Context, t Sealer, c recordCodec, path string, data []byte) ([]byte, error) {
	var f integrityFile
	if err := c.dec.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("store.LoadIntegrityKey: %s is damaged: cbor.Unmarshal: %w", path, err)
	}
	if f.Version != integrityVersion {
		return nil, fmt.Errorf("store.LoadIntegrityKey: %s: version %d, want %d", path, f.Version, integrityVersion)
	}
	if !bytes.Equal(f.SRKName, t.SRKName()) {
		return nil, fmt.Errorf("store.LoadIntegrityKey: %s was sealed under another SRK: %w", path, tpm.ErrTPMChanged)
	}
	blob := &tpm.Blob{Public: f.TPMPublic, Private: f.TPMPrivate, ParentName: f.SRKName}
	key, err := t.Unseal(ctx, blob, tpm.Auth{})
	if err != nil {
		return nil, fmt.Errorf("store.LoadIntegrityKey: tpm.Unseal %s: %w", path, err)
	}
	if len(key) != IntegrityKeySize {
		clear(key)
		return nil, fmt.Errorf("store.LoadIntegrityKey: %s holds %d bytes, want %d", path, len(key), IntegrityKeySize)
	}
	return key, nil
}

// secretKey holds the store integrity key. Every way of printing or
// marshalling it is refused, so it cannot reach a log by accident.
type secretKey struct{ b []byte }

func newSecretKey(b []byte) (*secretKey, error) {
	if len(b) != IntegrityKeySize {
		return nil, fmt.Errorf("integrity key of %d bytes, want %d", len(b), IntegrityKeySize)
	}
	return &secretKey{b: bytes.Clone(b)}, nil
}

// wipe zeroes the key; it is unusable afterwards.
func (k *secretKey) wipe() { clear(k.b) }

func (secretKey) String() string                 { return "[secret]" }
func (secretKey) GoString() string               { return "[secret]" }
func (secretKey) Format(f fmt.State, _ rune)     { io.WriteString(f, "[secret]") }
func (secretKey) LogValue() slog.Value           { return slog.StringValue("[secret]") }
func (secretKey) MarshalJSON() ([]byte, error)   { return nil, errSecretMarshal }
func (secretKey) MarshalText() ([]byte, error)   { return nil, errSecretMarshal }
func (secretKey) MarshalBinary() ([]byte, error) { return nil, errSecretMarshal }
func (secretKey) MarshalCBOR() ([]byte, error)   { return nil, errSecretMarshal }

// checkNoRecords is ErrIntegrityKeyMissing if keys holds a record (a file
// named like one in a uid directory). It stops at the first one, so a
// refused start does not read the whole store.
func checkNoRecords(keys string) error {
	kd, err := openDir(keys)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer kd.Close()
	for {
		uids, err := kd.Readdirnames(64)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("readdir %s: %w", keys, err)
		}
		for _, uid := range uids {
			if found, err := holdsRecord(kd, uid); err != nil || found {
				return err
			}
		}
	}
}

// holdsRecord reports whether keys/<name> is a directory holding a record,
// with ErrIntegrityKeyMissing naming it.
func holdsRecord(keys *os.File, name string) (bool, error) {
	if _, err := strconv.ParseUint(name, 10, 32); err != nil {
		return false, nil
	}
	udir, err := openDirIn(keys, name)
	if errors.Is(err, ErrUnsafePath) || errors.Is(err, fs.ErrNotExist) {
		return false, nil // never used as a uid directory
	}
	if err != nil {
		return false, err
	}
	defer udir.Close()
	for {
		entries, err := udir.Readdirnames(64)
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("readdir %s: %w", udir.Name(), err)
		}
		for _, e := range entries {
			if alias, ok := strings.CutSuffix(e, recordSuffix); ok && ValidAlias(alias) {
				return true, fmt.Errorf("%w (%s holds %s; restore integrity.key from a backup: a new key would invalidate every record)",
					ErrIntegrityKeyMissing, udir.Name(), e)
			}
		}
	}
}
