package protocol

import "github.com/tpmkeyd/tpmkeyd/protocol/aeadfmt"

// Opcodes of the aes-256-gcm operations (AEADEncrypt 32 and AEADDecrypt 33
// are in messages.go).
const (
	OpGenerateDataKey Op = 42
	OpReEncrypt       Op = 43
	OpSetKeyVersion   Op = 44
)

// AlgAES256GCM is a symmetric key with versions whose per-version AES-256
// working key is derived inside the TPM (AEADEncrypt, AEADDecrypt,
// GenerateDataKey, ReEncrypt).
const AlgAES256GCM = "aes-256-gcm"

// PurposeEncrypt is the purpose of aes-256-gcm keys: AEAD encryption and
// decryption.
const PurposeEncrypt = "encrypt"

// Limits of the AEAD operations' fields.
const (
	MaxContextPairs    = 64   // pairs in an encryption context
	MaxContextKeySize  = 256  // bytes of a context key (1..)
	MaxContextValSize  = 1024 // bytes of a context value (0..)
	MinDataKeyBytes    = 16   // GenerateDataKey bytes is MinDataKeyBytes..MaxDataKeyBytes
	MaxDataKeyBytes    = 64
	AEADOverhead       = aeadfmt.Overhead         // bytes a ciphertext adds to its plaintext
	MaxRotationSeconds = (1<<63 - 1) / 1000000000 // a rotation period fits a time.Duration
)

// AEADEncryptRequest encrypts Plaintext with the newest enabled version of
// the aes-256-gcm key Alias, binding Context (docs/PROTOCOL.md, "Appendix:
// AEAD ciphertext").
type AEADEncryptRequest struct {
	Alias     string            `cbor:"alias"`
	Plaintext []byte            `cbor:"plaintext"`
	Context   map[string]string `cbor:"context,omitempty"`
	PIN       []byte            `cbor:"pin,omitempty"`
}

type AEADEncryptResponse struct {
	Ciphertext []byte `cbor:"ciphertext"`
	Version    uint32 `cbor:"version"` // the key version that encrypted
}

// AEADDecryptRequest decrypts a ciphertext of AEADEncrypt; the key is the
// one whose key_id the ciphertext names, in the caller's namespace (an
// admin may name another uid's).
type AEADDecryptRequest struct {
	Ciphertext []byte            `cbor:"ciphertext"`
	Context    map[string]string `cbor:"context,omitempty"`
	PIN        []byte            `cbor:"pin,omitempty"`
	UID        *uint32           `cbor:"uid,omitempty"`
}

type AEADDecryptResponse struct {
	Plaintext []byte `cbor:"plaintext"`
	Alias     string `cbor:"alias"`   // the key that decrypted
	Version   uint32 `cbor:"version"` // its version
}

// GenerateDataKeyRequest asks for Bytes fresh random bytes (a data key),
// returned in the clear unless NoPlaintext, and as an AEADEncrypt
// ciphertext under Alias.
type GenerateDataKeyRequest struct {
	Alias       string            `cbor:"alias"`
	Bytes       uint              `cbor:"bytes"` // MinDataKeyBytes..MaxDataKeyBytes
	Context     map[string]string `cbor:"context,omitempty"`
	NoPlaintext bool              `cbor:"no_plaintext,omitempty"`
	PIN         []byte            `cbor:"pin,omitempty"`
}

type GenerateDataKeyResponse struct {
	Plaintext  []byte `cbor:"plaintext,omitempty"` // absent with no_plaintext
	Ciphertext []byte `cbor:"ciphertext"`
	Version    uint32 `cbor:"version"`
}

// ReEncryptRequest decrypts Ciphertext (its key found as AEADDecrypt finds
// it) and encrypts the plaintext again under ToAlias's newest version,
// inside the daemon.
type ReEncryptRequest struct {
	Ciphertext  []byte            `cbor:"ciphertext"`
	FromContext map[string]string `cbor:"from_context,omitempty"`
	ToAlias     string            `cbor:"to_alias"`
	ToContext   map[string]string `cbor:"to_context,omitempty"`
	PIN         []byte            `cbor:"pin,omitempty"`    // the source key's
	ToPIN       []byte            `cbor:"to_pin,omitempty"` // the destination key's
}

type ReEncryptResponse struct {
	Ciphertext []byte `cbor:"ciphertext"`
	Version    uint32 `cbor:"version"` // the destination key version
}

// SetKeyVersionRequest changes a symmetric key's versions: Version's state
// (with State), the min_decryption_version, the rotation_period. Absent
// fields are left as they are.
type SetKeyVersionRequest struct {
	Alias                string  `cbor:"alias"`
	Version              uint32  `cbor:"version,omitempty"`
	State                string  `cbor:"state,omitempty"` // "enabled" or "disabled"; needs version
	MinDecryptionVersion *uint32 `cbor:"min_decryption_version,omitempty"`
	RotationPeriod       *uint64 `cbor:"rotation_period,omitempty"` // seconds; 0: never
}

type SetKeyVersionResponse struct {
	Key KeyInfo `cbor:"key"`
}

func (r *AEADEncryptRequest) KeyAlias() string     { return r.Alias }
func (r *GenerateDataKeyRequest) KeyAlias() string { return r.Alias }
func (r *SetKeyVersionRequest) KeyAlias() string   { return r.Alias }

func (r *AEADEncryptRequest) KeyNamespace() *uint32     { return nil }
func (r *GenerateDataKeyRequest) KeyNamespace() *uint32 { return nil }
func (r *SetKeyVersionRequest) KeyNamespace() *uint32   { return nil }

// CiphertextRef is a request whose key is named by the key_id in its
// ciphertext (AEADDecrypt, ReEncrypt), in the caller's namespace or, for
// admins, another uid's.
type CiphertextRef interface {
	KeyCiphertext() []byte
	KeyNamespace() *uint32
}

func (r *AEADDecryptRequest) KeyCiphertext() []byte { return r.Ciphertext }
func (r *ReEncryptRequest) KeyCiphertext() []byte   { return r.Ciphertext }
func (r *AEADDecryptRequest) KeyNamespace() *uint32 { return r.UID }
func (r *ReEncryptRequest) KeyNamespace() *uint32   { return nil }

func (r *AEADEncryptRequest) KeyPIN() []byte     { return r.PIN }
func (r *AEADDecryptRequest) KeyPIN() []byte     { return r.PIN }
func (r *GenerateDataKeyRequest) KeyPIN() []byte { return r.PIN }
func (r *ReEncryptRequest) KeyPIN() []byte       { return r.PIN }

func (r *AEADEncryptRequest) Secrets() [][]byte     { return [][]byte{r.Plaintext, r.PIN} }
func (r *AEADDecryptRequest) Secrets() [][]byte     { return [][]byte{r.PIN} }
func (r *GenerateDataKeyRequest) Secrets() [][]byte { return [][]byte{r.PIN} }
func (r *ReEncryptRequest) Secrets() [][]byte       { return [][]byte{r.PIN, r.ToPIN} }

// checkContext checks an encryption context's size, so that its canonical
// encoding stays small.
func checkContext(field string, ctx map[string]string) error {
	if len(ctx) > MaxContextPairs {
		return Errorf(StatusBadRequest, "field %q: %d pairs, at most %d", field, len(ctx), MaxContextPairs)
	}
	for k, v := range ctx {
		if len(k) == 0 || len(k) > MaxContextKeySize || len(v) > MaxContextValSize {
			return Errorf(StatusBadRequest, "field %q: keys are 1..%d bytes, values 0..%d", field, MaxContextKeySize, MaxContextValSize)
		}
	}
	return nil
}

func checkCiphertext(ct []byte) error {
	if len(ct) == 0 {
		return required("ciphertext", false)
	}
	return nil
}

// Validate implements Validator.
func (r *AEADEncryptRequest) Validate() error {
	return firstError(required("alias", r.Alias != ""), checkContext("context", r.Context))
}

// Validate implements Validator.
func (r *AEADDecryptRequest) Validate() error {
	return firstError(checkCiphertext(r.Ciphertext), checkContext("context", r.Context))
}

// Validate implements Validator.
func (r *GenerateDataKeyRequest) Validate() error {
	if r.Bytes < MinDataKeyBytes || r.Bytes > MaxDataKeyBytes {
		return Errorf(StatusBadRequest, "field \"bytes\": %d out of range %d..%d", r.Bytes, MinDataKeyBytes, MaxDataKeyBytes)
	}
	return firstError(required("alias", r.Alias != ""), checkContext("context", r.Context))
}

// Validate implements Validator.
func (r *ReEncryptRequest) Validate() error {
	return firstError(checkCiphertext(r.Ciphertext), required("to_alias", r.ToAlias != ""),
		checkContext("from_context", r.FromContext), checkContext("to_context", r.ToContext))
}

// Validate implements Validator.
func (r *SetKeyVersionRequest) Validate() error {
	switch {
	case r.Alias == "":
		return required("alias", false)
	case r.State != "" && r.State != VersionEnabled && r.State != VersionDisabled:
		return Errorf(StatusBadRequest, "field \"state\": %q, want %q or %q", r.State, VersionEnabled, VersionDisabled)
	case (r.State != "") != (r.Version != 0):
		return Errorf(StatusBadRequest, "fields \"version\" and \"state\" go together")
	case r.RotationPeriod != nil && *r.RotationPeriod > MaxRotationSeconds:
		return Errorf(StatusBadRequest, "field \"rotation_period\": %d seconds is too long", *r.RotationPeriod)
	case r.State == "" && r.MinDecryptionVersion == nil && r.RotationPeriod == nil:
		return Errorf(StatusBadRequest, "nothing to change: give state, min_decryption_version or rotation_period")
	}
	return nil
}
