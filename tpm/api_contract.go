package tpm

// CONTRACT STUB — the exported surface other packages build against.
// The tpm/ implementer replaces these bodies (and may split this file),
// but keeps these names and signatures. Delete this comment when done.

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
)

// Algorithm is a key algorithm this package can create.
type Algorithm int

const (
	ECCP256 Algorithm = iota + 1
	ECCP384
	RSA2048
	RSA3072
	Sealed // keyedhash sealed data object, up to MaxSealedSize bytes
)

// MaxSealedSize is the largest secret Seal accepts.
const MaxSealedSize = 128

// Purpose is a bit set of what a key may do; a key gets only the TPM
// attributes its purposes need.
type Purpose uint8

const (
	PurposeSign Purpose = 1 << iota
	PurposeDecrypt
	PurposeAgree
)

// KeySpec says what to create.
type KeySpec struct {
	Algorithm Algorithm
	Purposes  Purpose // ignored for Sealed
	PIN       []byte  // optional auth value; empty means none (then NoDA is set)
	PCRs      []int   // optional PolicyPCR binding on the SHA-256 bank, to current values
}

// Auth is what the caller presents to use a key: the PIN and the PCR list the
// key was bound to (recorded by the caller at creation time).
type Auth struct {
	PIN  []byte
	PCRs []int
}

// Blob is a TPM-wrapped key: useless without the TPM that made it.
type Blob struct {
	Public     []byte // TPM2B_PUBLIC, marshalled
	Private    []byte // TPM2B_PRIVATE, marshalled
	ParentName []byte // Name of the SRK it was created under
}

// Info is the TPM's identity and capabilities.
type Info struct {
	Manufacturer string // e.g. "IBM"
	Firmware     string // e.g. "20.1.0.0" style
	Algorithms   []Algorithm
	Slots        int // transient object slots usable for the key cache
}

// Options configure Open.
type Options struct {
	StateDir          string // holds srk.name and, for sim:, the seed. Required.
	OwnerPasswordFile string // optional owner-hierarchy password
	Logger            *slog.Logger
	CacheSlots        int // 0: derive from the TPM's properties
}

// DecryptScheme selects RSA decryption padding.
type DecryptScheme int

const (
	OAEPSHA256 DecryptScheme = iota + 1
	PKCS1v15
)

// Sentinel errors (errors.go). TPM-originated ones wrap the response code.
var (
	ErrAuthFail       = errors.New("tpm: authorization failed (wrong PIN)")
	ErrLockout        = errors.New("tpm: dictionary-attack lockout")
	ErrPolicyMismatch = errors.New("tpm: policy not satisfied (PCRs changed)")
	ErrTPMChanged     = errors.New("tpm: SRK name changed (TPM cleared or replaced)")
	ErrUnsupported    = errors.New("tpm: algorithm or operation not supported")
	ErrUnavailable    = errors.New("tpm: TPM unavailable")
	ErrPurpose        = errors.New("tpm: key purpose does not allow this operation")
	ErrBadBlob        = errors.New("tpm: malformed key blob")
	ErrClosed         = errors.New("tpm: closed")
)

// TPM owns one TPM connection and serialises every command on it.
// Safe for concurrent use.
type TPM struct{}

// Open connects to spec ("/dev/tpmrm0", "/dev/tpm0", "swtpm:tcp://H:P",
// "swtpm:unix:///PATH", "sim:"), provisions or checks the SRK, and pins its Name.
func Open(ctx context.Context, spec string, opts Options) (*TPM, error) { panic("stub") }

func (t *TPM) Close() error                                      { panic("stub") }
func (t *TPM) Info() Info                                        { panic("stub") }
func (t *TPM) Supports(a Algorithm) bool                         { panic("stub") }
func (t *TPM) SRKName() []byte                                   { panic("stub") }
func (t *TPM) Ping(ctx context.Context) error                    { panic("stub") }
func (t *TPM) Random(ctx context.Context, n int) ([]byte, error) { panic("stub") }

// CreateKey makes a new key under the SRK (not for Sealed).
func (t *TPM) CreateKey(ctx context.Context, spec KeySpec) (*Blob, crypto.PublicKey, error) {
	panic("stub")
}

// Seal makes a sealed data object holding secret (spec.Algorithm == Sealed).
func (t *TPM) Seal(ctx context.Context, secret []byte, spec KeySpec) (*Blob, error) {
	panic("stub")
}

// Sign signs digest (already hashed with h). ECDSA returns ASN.1 DER; RSA
// returns PKCS#1 v1.5 or, with pss, PSS (salt length = hash length).
func (t *TPM) Sign(ctx context.Context, b *Blob, a Auth, digest []byte, h crypto.Hash, pss bool) ([]byte, error) {
	panic("stub")
}

func (t *TPM) Decrypt(ctx context.Context, b *Blob, a Auth, ciphertext []byte, s DecryptScheme) ([]byte, error) {
	panic("stub")
}

// ECDH returns the x coordinate of d*peer; peer is *ecdsa.PublicKey or *ecdh.PublicKey.
func (t *TPM) ECDH(ctx context.Context, b *Blob, a Auth, peer crypto.PublicKey) ([]byte, error) {
	panic("stub")
}

func (t *TPM) Unseal(ctx context.Context, b *Blob, a Auth) ([]byte, error) { panic("stub") }

// Forget flushes b from the key cache if it is loaded (after a delete).
func (t *TPM) Forget(b *Blob) { panic("stub") }

// PublicKey parses the public key from a blob without touching the TPM.
func PublicKey(b *Blob) (crypto.PublicKey, error) { panic("stub") }
