package store

import (
	"fmt"
	"time"
)

// MaxKeyVersions caps a symmetric key's versions, so that a record stays
// well inside maxRecordSize and the decoder's array limit. Rotation has to
// retire old versions (or refuse) before it is reached.
const MaxKeyVersions = 64

// maxRotationPeriod keeps rotation_period's seconds inside a time.Duration.
const maxRotationPeriod = time.Duration(1<<63-1) / time.Second * time.Second

// MinDecryption is the oldest version that decrypts and verifies: the
// record's MinDecryptionVersion, with 0 read as 1.
func (r *Record) MinDecryption() uint32 {
	return max(r.MinDecryptionVersion, 1)
}

// validateVersions checks what a record's kind requires of its versions. It
// runs on encode and on decode, so that no build writes, and no build uses,
// a symmetric key it could not tell the newest or the decryptable versions
// of. The other kinds carry no versions at all.
func validateVersions(r *Record) error {
	if r.Kind() != KindSymmetric {
		if len(r.Versions) != 0 || r.MinDecryptionVersion != 0 || r.RotationPeriod != 0 {
			return fmt.Errorf("%w: a %s record with versions", ErrInvalidRecord, r.Kind())
		}
		return nil
	}
	n := len(r.Versions)
	switch {
	case n == 0:
		return fmt.Errorf("%w: a symmetric key without versions", ErrInvalidRecord)
	case n > MaxKeyVersions:
		return fmt.Errorf("%w: %d versions, at most %d", ErrInvalidRecord, n, MaxKeyVersions)
	case len(r.Blob.Public) != 0 || len(r.Blob.Private) != 0 || len(r.Blob.ParentName) != 0:
		return fmt.Errorf("%w: a symmetric key with a record-level blob", ErrInvalidRecord)
	case r.RotationPeriod < 0 || r.RotationPeriod > maxRotationPeriod:
		return fmt.Errorf("%w: rotation period %v", ErrInvalidRecord, r.RotationPeriod)
	case r.MinDecryptionVersion > uint32(n):
		return fmt.Errorf("%w: min_decryption_version %d above the newest version %d", ErrInvalidRecord, r.MinDecryptionVersion, n)
	}
	for i, v := range r.Versions {
		switch {
		case v.Number != uint32(i+1):
			return fmt.Errorf("%w: version %d numbered %d", ErrInvalidRecord, i+1, v.Number)
		case len(v.Blob.Public) == 0 || len(v.Blob.Private) == 0 || len(v.Blob.ParentName) == 0:
			return fmt.Errorf("%w: version %d without a blob", ErrInvalidRecord, v.Number)
		}
	}
	newest, ok := r.Newest()
	switch {
	case !ok:
		return fmt.Errorf("%w: every version disabled", ErrInvalidRecord)
	case newest.Number < r.MinDecryption():
		// The key would encrypt what it refuses to decrypt.
		return fmt.Errorf("%w: newest enabled version %d below min_decryption_version %d", ErrInvalidRecord, newest.Number, r.MinDecryption())
	}
	return nil
}
