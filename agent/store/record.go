package store

import (
	"time"

	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Record is one stored key: its description and its TPM-wrapped blob, or,
// for KindSymmetric, its TPM-wrapped versions. It never holds private key
// material.
type Record struct {
	Alias     string
	KeyID     [16]byte
	OwnerUID  uint32
	Algorithm string   // wire name: "ec-p256", ..., "sealed"
	Purposes  []string // wire names: "sign", "decrypt", "agree"
	HasPIN    bool
	PINScheme PINScheme // how the TPM auth value derives from the PIN
	PCRs      []uint
	Created   time.Time // stored with one-second precision, in UTC
	PublicDER []byte    // SubjectPublicKeyInfo; nil for sealed and symmetric
	Blob      tpm.Blob  // empty for KindSymmetric: each version has its own

	// Versions are a symmetric key's versions, numbered 1..N in order;
	// nil for every other kind (validateVersions).
	Versions []KeyVersion
	// MinDecryptionVersion is the oldest version that still decrypts or
	// verifies; 0 is read as 1. Symmetric only.
	MinDecryptionVersion uint32
	// RotationPeriod is how often the daemon adds a version by itself; 0:
	// never. Stored with one-second precision. Symmetric only.
	RotationPeriod time.Duration

	// Origin is where the key came from: OriginImported or
	// OriginImportedWrapped; "" is a key this TPM generated (and every
	// record written before imports existed).
	Origin string
	// ExportTo is the Name of the one SRK the key may be exported to (a
	// key made with a duplication policy); nil: it never leaves.
	ExportTo []byte
	// SSH is the key's ssh-agent marking (ssh.go); nil: not offered to ssh.
	SSH *SSHMarking
}

// Origins of a record (Record.Origin), as on the wire.
const (
	OriginImported        = "imported"
	OriginImportedWrapped = "imported-wrapped"
)

// KeyVersion is one version of a symmetric key: a TPM-made HMAC-SHA256
// keyedhash object (tpm.HMACSHA256), wrapped by the SRK. For aes-256-gcm the
// AES working key is derived from it inside the TPM.
type KeyVersion struct {
	Number   uint32    // 1 for the first version, then one more per rotation
	Created  time.Time // stored with one-second precision, in UTC
	Disabled bool      // a disabled version neither encrypts nor decrypts
	// Messages is how many messages the daemon has reserved for this
	// version (aes-256-gcm), in blocks, before it encrypts them: a count
	// that a crash can only skip ahead, never reuse.
	Messages uint64
	Blob     tpm.Blob
}

// PINScheme is how a key's TPM auth value is made from its PIN.
type PINScheme uint8

const (
	// PINRaw: the PIN bytes are the auth value. Records written before
	// PIN hashing have it. The TPM strips trailing zero bytes from an
	// auth value, so "1234\x00" unlocks a key made with "1234".
	PINRaw PINScheme = 0
	// PINSHA256: the auth value is SHA-256 over a fixed label and the
	// PIN, so PINs compare exactly, whatever their bytes and length.
	PINSHA256 PINScheme = 1
)

// Kind is what a record holds. It is stored and MACed with the record, and
// decides how the record's body is read (docs/STORE.md).
type Kind string

const (
	KindKey       Kind = "key"       // an asymmetric key the TPM made
	KindSealed    Kind = "sealed"    // a secret sealed to the TPM
	KindSymmetric Kind = "symmetric" // a symmetric key with versions
)

// Wire names of the symmetric algorithms. Both are TPM keyedhash HMAC keys
// (tpm.HMACSHA256) in every version.
const (
	AlgAES256GCM  = "aes-256-gcm"
	AlgHMACSHA256 = "hmac-sha256"
)

// Kind is KindSealed for a sealed secret, KindSymmetric for aes-256-gcm and
// hmac-sha256, and KindKey otherwise.
func (r *Record) Kind() Kind {
	switch r.Algorithm {
	case tpm.Sealed.String():
		return KindSealed
	case AlgAES256GCM, AlgHMACSHA256:
		return KindSymmetric
	}
	return KindKey
}

// Version returns version n of a symmetric key, enabled or not.
func (r *Record) Version(n uint32) (*KeyVersion, bool) {
	// Versions are numbered 1..N without gaps (validateVersions), but a
	// caller may hold a Record it built itself, so search rather than index.
	for i := range r.Versions {
		if r.Versions[i].Number == n {
			return &r.Versions[i], true
		}
	}
	return nil, false
}

// Newest returns the newest enabled version: the one that encrypts and MACs.
func (r *Record) Newest() (*KeyVersion, bool) {
	for i := len(r.Versions) - 1; i >= 0; i-- {
		if !r.Versions[i].Disabled {
			return &r.Versions[i], true
		}
	}
	return nil, false
}

// clone returns a deep copy of r, so the cache never shares slices with a
// caller.
func (r *Record) clone() *Record {
	c := *r
	c.Purposes = append([]string(nil), r.Purposes...)
	c.PCRs = append([]uint(nil), r.PCRs...)
	c.PublicDER = append([]byte(nil), r.PublicDER...)
	c.ExportTo = append([]byte(nil), r.ExportTo...)
	c.Blob = cloneBlob(r.Blob)
	c.SSH = cloneSSH(r.SSH)
	if r.Versions != nil {
		c.Versions = make([]KeyVersion, len(r.Versions))
		for i, v := range r.Versions {
			v.Blob = cloneBlob(v.Blob)
			c.Versions[i] = v
		}
	}
	return &c
}

func cloneBlob(b tpm.Blob) tpm.Blob {
	return tpm.Blob{
		Public:     append([]byte(nil), b.Public...),
		Private:    append([]byte(nil), b.Private...),
		ParentName: append([]byte(nil), b.ParentName...),
	}
}
