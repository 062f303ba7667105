package tpm

import (
	"crypto"
	"encoding/json"
	"errors"
	"log/slog"
	"time"
)

// Algorithm is a key algorithm this package can create.
type Algorithm int

const (
	ECCP256 Algorithm = iota + 1
	ECCP384
	RSA2048
	RSA3072
	Sealed     // keyedhash sealed data object, up to MaxSealedSize bytes
	HMACSHA256 // keyedhash HMAC key with scheme HMAC-SHA256, made by the TPM; purpose MAC only
)

// String returns the algorithm's wire name (as in docs/PROTOCOL.md).
func (a Algorithm) String() string {
	switch a {
	case ECCP256:
		return "ec-p256"
	case ECCP384:
		return "ec-p384"
	case RSA2048:
		return "rsa-2048"
	case RSA3072:
		return "rsa-3072"
	case Sealed:
		return "sealed"
	case HMACSHA256:
		return "hmac-sha256"
	}
	return "unknown"
}

func (a Algorithm) isECC() bool { return a == ECCP256 || a == ECCP384 }
func (a Algorithm) isRSA() bool { return a == RSA2048 || a == RSA3072 }

// allAlgorithms is every Algorithm, in Info order.
var allAlgorithms = [...]Algorithm{ECCP256, ECCP384, RSA2048, RSA3072, Sealed, HMACSHA256}

// MaxSealedSize is the largest secret Seal accepts.
const MaxSealedSize = 128

// MaxMACData is the longest message HMAC accepts.
const MaxMACData = 64 << 10

// MaxPINSize is the longest PIN: a TPM auth value is at most the size of
// the object's Name hash (SHA-256).
const MaxPINSize = 32

// Purpose is a bit set of what a key may do; a key gets only the TPM
// attributes its purposes need.
type Purpose uint8

const (
	PurposeSign Purpose = 1 << iota
	PurposeDecrypt
	PurposeAgree
	PurposeMAC // HMAC computed inside the TPM; the only purpose of HMACSHA256
)

// KeySpec says what to create.
type KeySpec struct {
	Algorithm Algorithm
	Purposes  Purpose // ignored for Sealed
	PIN       []byte  // optional auth value; empty means none (then NoDA is set)
	PCRs      []int   // optional PolicyPCR binding on the SHA-256 bank, to current values
	// ExportTo, when set, is the Name of the one storage key (a backup
	// TPM's SRK) the key may be duplicated to (export.go); not with PCRs.
	ExportTo []byte
}

// MarshalJSON refuses, so a PIN can't leak into a log or a file.
func (KeySpec) MarshalJSON() ([]byte, error) {
	return nil, errors.New("tpm: KeySpec holds a PIN and must not be marshalled")
}

// Auth is what the caller presents to use a key: the PIN and the PCR list the
// key was bound to (recorded by the caller at creation time).
type Auth struct {
	PIN  []byte
	PCRs []int
}

// MarshalJSON refuses, so a PIN can't leak into a log or a file.
func (Auth) MarshalJSON() ([]byte, error) {
	return nil, errors.New("tpm: Auth holds a PIN and must not be marshalled")
}

// LogValue hides the PIN from slog.
func (a Auth) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("pin", len(a.PIN) > 0), slog.Any("pcrs", a.PCRs))
}

var (
	_ json.Marshaler = Auth{}
	_ json.Marshaler = KeySpec{}
)

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
	Slots        int     // transient object slots usable for the key cache
	InputBuffer  int     // the largest TPM2B_MAX_BUFFER a command takes (TPM_PT_INPUT_BUFFER)
	DA           DAState // the dictionary-attack lockout, as it was at Open
}

// DAState is the TPM's dictionary-attack lockout (Part 1 §19.8, Part 2
// TPM_PT_LOCKOUT_*). Its one counter is shared by everything on the TPM
// that is authorized with DA protection: every PIN of every user.
type DAState struct {
	Counter   uint32        // failed authorizations counted now (TPM_PT_LOCKOUT_COUNTER)
	MaxTries  uint32        // the count at which the TPM locks out (TPM_PT_MAX_AUTH_FAIL)
	Interval  time.Duration // how long until one failure is forgotten (TPM_PT_LOCKOUT_INTERVAL)
	Recovery  time.Duration // the wait after a failed lockout authorization (TPM_PT_LOCKOUT_RECOVERY)
	InLockout bool          // TPMA_PERMANENT.inLockout: PINs are refused now
}

// Options configure Open.
type Options struct {
	StateDir          string // holds srk.name and, for sim:, the seed. Required.
	OwnerPasswordFile string // optional owner-hierarchy password
	Logger            *slog.Logger
	CacheSlots        int // 0: derive from the TPM's properties
	// MaxQueuedPerOwner bounds the jobs one owner (see WithOwner) may have
	// waiting for the TPM; past it a call fails at once with ErrBusy.
	// 0: DefaultMaxQueuedPerOwner.
	MaxQueuedPerOwner int
}

// DecryptScheme selects RSA decryption padding.
type DecryptScheme int

const (
	OAEPSHA256 DecryptScheme = iota + 1
	PKCS1v15
)

// hashes the package signs with.
// SHA-1 is for RSA PKCS #1 v1.5 only (ssh-rsa, when the daemon's
// ssh_allow_sha1 allows it); no client names it (protocol hash names).
var signHashes = map[crypto.Hash]bool{crypto.SHA1: true, crypto.SHA256: true, crypto.SHA384: true, crypto.SHA512: true}
