package store

import (
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
	PINScheme PINScheme // how the TPM auth value derives from the PIN
	PCRs      []uint
	Created   time.Time // stored with one-second precision, in UTC
	PublicDER []byte    // SubjectPublicKeyInfo; nil for sealed
	Blob      tpm.Blob
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
	KindKey    Kind = "key"    // an asymmetric key the TPM made
	KindSealed Kind = "sealed" // a secret sealed to the TPM
)

// Kind is KindSealed for a sealed secret and KindKey otherwise.
func (r *Record) Kind() Kind {
	if r.Algorithm == tpm.Sealed.String() {
		return KindSealed
	}
	return KindKey
}

// clone returns a deep copy of r, so the cache never shares slices with a
// caller.
func (r *Record) clone() *Record {
	c := *r
	c.Purposes = append([]string(nil), r.Purposes...)
	c.PCRs = append([]uint(nil), r.PCRs...)
	c.PublicDER = append([]byte(nil), r.PublicDER...)
	c.Blob = tpm.Blob{
		Public:     append([]byte(nil), r.Blob.Public...),
		Private:    append([]byte(nil), r.Blob.Private...),
		ParentName: append([]byte(nil), r.Blob.ParentName...),
	}
	return &c
}
