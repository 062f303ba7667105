package protocol

// One Go type per message. Field names on the wire are the `cbor` tags
// (text-string map keys, RFC 8949). Unknown keys are ignored on decode.
// Byte strings are CBOR major type 2; optional fields may be omitted.
// See docs/PROTOCOL.md for the normative description.

// Op is a request opcode (u16 on the wire).
type Op uint16

// Version-1 opcodes. Numbers are stable; never reuse one.
const (
	OpHello       Op = 1
	OpGenerateKey Op = 2
	OpGetKey      Op = 3
	OpListKeys    Op = 4
	OpDeleteKey   Op = 5
	OpSign        Op = 6
	OpVerify      Op = 7
	OpDecrypt     Op = 8
	OpEncrypt     Op = 9
	OpECDH        Op = 10
	OpSeal        Op = 11
	OpUnseal      Op = 12
	OpGetRandom   Op = 13
	OpStatus      Op = 14

	// Reserved for later versions; a v1 server answers them UNKNOWN_OP.
	OpAEADEncrypt Op = 32
	OpAEADDecrypt Op = 33
	OpMAC         Op = 34
	OpVerifyMAC   Op = 35
	OpImportKey   Op = 36
	OpAttest      Op = 37
	OpGrant       Op = 38
	OpUngrant     Op = 39
	OpListGrants  Op = 40
	OpRotateKey   Op = 41
	OpExportKey   Op = 45
)

// Algorithm names used on the wire.
const (
	AlgECP256  = "ec-p256"
	AlgECP384  = "ec-p384"
	AlgRSA2048 = "rsa-2048"
	AlgRSA3072 = "rsa-3072"
	AlgSealed  = "sealed"
	// AlgHMACSHA256 is an HMAC-SHA256 key that stays in the TPM (MAC,
	// VerifyMAC), with versions.
	AlgHMACSHA256 = "hmac-sha256"
)

// Purpose names used on the wire.
const (
	PurposeSign    = "sign"
	PurposeDecrypt = "decrypt"
	PurposeAgree   = "agree"
	PurposeMAC     = "mac"
)

// Hash names used on the wire.
const (
	HashSHA256 = "sha256"
	HashSHA384 = "sha384"
	HashSHA512 = "sha512"
)

// MaxPINSize is the longest PIN, in bytes. Any byte values are allowed
// (docs/PROTOCOL.md §6.3).
const MaxPINSize = 128

// Padding names used on the wire for Decrypt and Encrypt.
const (
	PaddingOAEPSHA256 = "oaep-sha256"
	PaddingPKCS1v15   = "pkcs1v15"
)

// KeyInfo describes a stored key or sealed secret. It never holds secrets.
type KeyInfo struct {
	Alias     string   `cbor:"alias"`
	KeyID     []byte   `cbor:"key_id"` // 16 random bytes
	OwnerUID  uint32   `cbor:"owner_uid"`
	Algorithm string   `cbor:"algorithm"`
	Purposes  []string `cbor:"purposes"`
	HasPIN    bool     `cbor:"has_pin"`
	PCRs      []uint   `cbor:"pcrs,omitempty"`       // SHA-256 bank indices the key is bound to
	Created   int64    `cbor:"created"`              // Unix seconds
	PublicKey []byte   `cbor:"public_key,omitempty"` // DER SubjectPublicKeyInfo; absent for sealed
	// Versions of a symmetric key (hmac-sha256), oldest first; absent for
	// other keys.
	Versions             []KeyVersionInfo `cbor:"versions,omitempty"`
	MinDecryptionVersion uint32           `cbor:"min_decryption_version,omitempty"`
	RotationPeriod       uint64           `cbor:"rotation_period,omitempty"` // seconds; 0: never rotates by itself
	// Origin is OriginGenerated, OriginImported or OriginImportedWrapped;
	// servers always send it (absent: generated).
	Origin string `cbor:"origin,omitempty"`
	// ExportableTo is the Name of the one SRK the key may be exported to
	// (ExportKey); absent for a key that never leaves its TPM.
	ExportableTo []byte `cbor:"exportable_to,omitempty"`
	// SSH is the key's ssh marking; absent when the key is not offered to ssh.
	SSH *SSHInfo `cbor:"ssh,omitempty"`
}

// KeyVersionInfo is one version of a symmetric key.
type KeyVersionInfo struct {
	Number  uint32 `cbor:"number"`
	Created int64  `cbor:"created"` // Unix seconds
	State   string `cbor:"state"`   // "enabled" or "disabled"
}

// Key version states on the wire.
const (
	VersionEnabled  = "enabled"
	VersionDisabled = "disabled"
)

// ErrorBody is the body of every response whose status is not OK.
type ErrorBody struct {
	Message string `cbor:"message"`
}

type HelloRequest struct {
	Versions []uint `cbor:"versions"` // versions the client speaks, any order
	Client   string `cbor:"client,omitempty"`
}

type HelloResponse struct {
	Version         uint     `cbor:"version"`
	AgentVersion    string   `cbor:"agent_version"`
	TPMManufacturer string   `cbor:"tpm_manufacturer"`
	TPMFirmware     string   `cbor:"tpm_firmware"`
	Algorithms      []string `cbor:"algorithms"`
	Operations      []string `cbor:"operations"`
	MaxFrameSize    uint32   `cbor:"max_frame_size"`
}

type GenerateKeyRequest struct {
	Alias     string   `cbor:"alias"`
	Algorithm string   `cbor:"algorithm"`
	Purposes  []string `cbor:"purposes,omitempty"` // default: ["sign"]
	PIN       []byte   `cbor:"pin,omitempty"`
	PCRs      []uint   `cbor:"pcrs,omitempty"`
	// RotationPeriod (seconds) of a symmetric key: the daemon adds a
	// version by itself at the first use after the newest is this old.
	RotationPeriod uint64 `cbor:"rotation_period,omitempty"`
	// BackupTo makes the key exportable to one backup TPM: its SRK's
	// TPM2B_PUBLIC (docs/BACKUP.md). Absent: the key never leaves.
	BackupTo []byte `cbor:"backup_to,omitempty"`
	// Exportable makes the key exportable to the backup TPM the server's
	// admin configured (backup.target), when BackupTo is absent.
	Exportable bool `cbor:"exportable,omitempty"`
}

type GenerateKeyResponse struct {
	Key KeyInfo `cbor:"key"`
}

// UID on Get/List/Delete is for admins only: it names another uid's namespace.
type GetKeyRequest struct {
	Alias string  `cbor:"alias"`
	UID   *uint32 `cbor:"uid,omitempty"`
}

type GetKeyResponse struct {
	Key KeyInfo `cbor:"key"`
}

type ListKeysRequest struct {
	Cursor string  `cbor:"cursor,omitempty"` // opaque; empty starts at the beginning
	Limit  uint    `cbor:"limit,omitempty"`  // 0 means the server default
	UID    *uint32 `cbor:"uid,omitempty"`
}

type ListKeysResponse struct {
	Keys       []KeyInfo `cbor:"keys"`
	NextCursor string    `cbor:"next_cursor,omitempty"` // empty when done
}

type DeleteKeyRequest struct {
	Alias string  `cbor:"alias"`
	UID   *uint32 `cbor:"uid,omitempty"`
}

type DeleteKeyResponse struct{}

// SignRequest carries exactly one of Digest and Message. A Message is hashed
// by the agent with Hash.
type SignRequest struct {
	Alias   string `cbor:"alias"`
	Digest  []byte `cbor:"digest,omitempty"`
	Message []byte `cbor:"message,omitempty"`
	Hash    string `cbor:"hash"`
	PSS     bool   `cbor:"pss,omitempty"`
	PIN     []byte `cbor:"pin,omitempty"`
}

// SignResponse: ECDSA signatures are ASN.1 DER; RSA signatures are raw.
type SignResponse struct {
	Signature []byte `cbor:"signature"`
}

type VerifyRequest struct {
	Alias     string `cbor:"alias"`
	Digest    []byte `cbor:"digest,omitempty"`
	Message   []byte `cbor:"message,omitempty"`
	Hash      string `cbor:"hash"`
	PSS       bool   `cbor:"pss,omitempty"`
	Signature []byte `cbor:"signature"`
}

type VerifyResponse struct {
	Valid bool `cbor:"valid"`
}

type DecryptRequest struct {
	Alias      string `cbor:"alias"`
	Ciphertext []byte `cbor:"ciphertext"`
	Padding    string `cbor:"padding,omitempty"` // default oaep-sha256
	PIN        []byte `cbor:"pin,omitempty"`
}

type DecryptResponse struct {
	Plaintext []byte `cbor:"plaintext"`
}

type EncryptRequest struct {
	Alias     string `cbor:"alias"`
	Plaintext []byte `cbor:"plaintext"`
	Padding   string `cbor:"padding,omitempty"` // default oaep-sha256
}

type EncryptResponse struct {
	Ciphertext []byte `cbor:"ciphertext"`
}

// ECDHRequest's PeerPublicKey is DER SubjectPublicKeyInfo on the key's curve.
type ECDHRequest struct {
	Alias         string `cbor:"alias"`
	PeerPublicKey []byte `cbor:"peer_public_key"`
	PIN           []byte `cbor:"pin,omitempty"`
}

// ECDHResponse's SharedSecret is the x coordinate of the shared point.
type ECDHResponse struct {
	SharedSecret []byte `cbor:"shared_secret"`
}

type SealRequest struct {
	Alias  string `cbor:"alias"`
	Secret []byte `cbor:"secret"` // 1..128 bytes
	PIN    []byte `cbor:"pin,omitempty"`
	PCRs   []uint `cbor:"pcrs,omitempty"`
}

type SealResponse struct {
	Key KeyInfo `cbor:"key"`
}

type UnsealRequest struct {
	Alias string `cbor:"alias"`
	PIN   []byte `cbor:"pin,omitempty"`
}

type UnsealResponse struct {
	Secret []byte `cbor:"secret"`
}

type GetRandomRequest struct {
	N uint `cbor:"n"` // 1..1024
}

type GetRandomResponse struct {
	Bytes []byte `cbor:"bytes"`
}

// MACRequest asks for an HMAC of data with a mac key's newest enabled
// version, computed inside the TPM.
type MACRequest struct {
	Alias string `cbor:"alias"`
	Data  []byte `cbor:"data"` // 0..MaxMACData bytes
	PIN   []byte `cbor:"pin,omitempty"`
}

type MACResponse struct {
	Tag     []byte `cbor:"tag"`     // 32 bytes
	Version uint32 `cbor:"version"` // the key version that made it
}

// VerifyMACRequest checks tag over data, with the version given, or with
// every enabled version when Version is 0.
type VerifyMACRequest struct {
	Alias   string `cbor:"alias"`
	Data    []byte `cbor:"data"`
	Tag     []byte `cbor:"tag"`
	Version uint32 `cbor:"version,omitempty"`
	PIN     []byte `cbor:"pin,omitempty"`
}

type VerifyMACResponse struct {
	Valid bool `cbor:"valid"`
}

// RotateKeyRequest adds a version to a symmetric key (hmac-sha256): new
// MACs use it; the older versions still verify.
type RotateKeyRequest struct {
	Alias string `cbor:"alias"`
	PIN   []byte `cbor:"pin,omitempty"` // the key's PIN, which the new version keeps
}

type RotateKeyResponse struct {
	Key KeyInfo `cbor:"key"`
}

type StatusRequest struct{}

type StatusResponse struct {
	AgentVersion    string            `cbor:"agent_version"`
	TPMManufacturer string            `cbor:"tpm_manufacturer"`
	TPMFirmware     string            `cbor:"tpm_firmware"`
	UptimeSeconds   uint64            `cbor:"uptime_seconds"`
	Keys            uint64            `cbor:"keys"`                   // the caller's own
	Connections     uint64            `cbor:"connections"`            // open connections, all uids
	KeysPerUID      map[uint32]uint64 `cbor:"keys_per_uid,omitempty"` // admins only
	TPMLockout      *LockoutInfo      `cbor:"tpm_lockout,omitempty"`  // admins only
	TPMQueue        uint64            `cbor:"tpm_queue,omitempty"`    // admins only: jobs waiting for the TPM
	SRKPublic       []byte            `cbor:"srk_public,omitempty"`   // the SRK's TPM2B_PUBLIC: wrap keys for it
	SRKName         []byte            `cbor:"srk_name,omitempty"`     // its TPM Name
}

// LockoutInfo is the TPM's dictionary-attack state (TPM_PT_LOCKOUT_*).
type LockoutInfo struct {
	Counter         uint32 `cbor:"counter"`          // wrong authorizations the TPM counts now
	MaxTries        uint32 `cbor:"max_tries"`        // at this count the TPM locks out
	IntervalSeconds uint64 `cbor:"interval_seconds"` // the TPM forgets one failure per interval
	RecoverySeconds uint64 `cbor:"recovery_seconds"` // lockout recovery time
	InLockout       bool   `cbor:"in_lockout"`
}
