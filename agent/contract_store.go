package agent

// CONTRACT STUB — owned by the store helper (store*.go, integrity*.go).
// Keep names/signatures; replace bodies; delete this file when implemented.

import (
	"context"
	"log/slog"
	"time"

	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Record is one stored key: its description and its TPM-wrapped blob.
// It never holds private key material.
type Record struct {
	Alias     string
	KeyID     [16]byte
	OwnerUID  uint32
	Algorithm string   // wire name: "ec-p256", ..., "sealed"
	Purposes  []string // wire names: "sign", "decrypt", "agree"
	HasPIN    bool
	PCRs      []uint
	Created   time.Time
	PublicDER []byte // SubjectPublicKeyInfo; nil for sealed
	Blob      tpm.Blob
}

// Store keeps one MAC-protected record per key in DIR/keys/<uid>/<alias>.key.
// Safe for concurrent use. Records are read on first use, then cached.
type Store struct{}

// OpenStore opens (creating if needed, 0700) the store under dir. It does
// not read the records: start-up time must not grow with the key count.
func OpenStore(dir string, macKey []byte, log *slog.Logger) (*Store, error) { panic("stub") }

// Get returns the record, from cache or disk. ErrKeyNotFound, ErrKeyInvalidated.
func (s *Store) Get(uid uint32, alias string) (*Record, error) { panic("stub") }

// Create writes a new record atomically. ErrKeyExists; ErrQuotaExceeded when
// uid already has maxKeys (0 = unlimited). Create and quota check are atomic
// per uid.
func (s *Store) Create(r *Record, maxKeys int) error { panic("stub") }

// Delete removes the record and returns it (so the caller can flush it).
func (s *Store) Delete(uid uint32, alias string) (*Record, error) { panic("stub") }

// List returns up to limit records of uid sorted by alias, starting after
// cursor (opaque; "" = start), and the next cursor ("" when done).
// Invalid records are skipped and logged at warning level.
func (s *Store) List(uid uint32, cursor string, limit int) ([]*Record, string, error) {
	panic("stub")
}

// Count is the number of keys uid has. CountAll is per uid, for admins.
func (s *Store) Count(uid uint32) (int, error)     { panic("stub") }
func (s *Store) CountAll() (map[uint32]int, error) { panic("stub") }

// ValidAlias reports whether alias is 1–128 bytes of [A-Za-z0-9._-] not
// starting with '.'.
func ValidAlias(alias string) bool { panic("stub") }

// LoadIntegrityKey unseals the 32-byte store MAC key from DIR/integrity.key,
// creating and sealing a new one on first start. The key lives only in memory.
func LoadIntegrityKey(ctx context.Context, t *tpm.TPM, dir string) ([]byte, error) {
	panic("stub")
}
