package client

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Algorithm names a key type, as on the wire.
type Algorithm string

// Key algorithms. AlgSealed is the type of a secret stored with Seal.
const (
	AlgECP256  Algorithm = protocol.AlgECP256
	AlgECP384  Algorithm = protocol.AlgECP384
	AlgRSA2048 Algorithm = protocol.AlgRSA2048
	AlgRSA3072 Algorithm = protocol.AlgRSA3072
	AlgSealed  Algorithm = protocol.AlgSealed
	// AlgHMACSHA256 is an HMAC-SHA256 key that never leaves the TPM
	// (MAC, VerifyMAC), with versions.
	AlgHMACSHA256 Algorithm = protocol.AlgHMACSHA256
)

// Purpose names what a key may be used for.
type Purpose string

// Key purposes, enforced by the agent before it asks the TPM.
const (
	PurposeSign    Purpose = protocol.PurposeSign
	PurposeDecrypt Purpose = protocol.PurposeDecrypt
	PurposeAgree   Purpose = protocol.PurposeAgree
	PurposeMAC     Purpose = protocol.PurposeMAC
)

// Key describes a stored key or sealed secret. It never holds secrets.
type Key struct {
	Alias     string
	ID        []byte // 16 random bytes, stable for the key's life
	OwnerUID  uint32
	Algorithm Algorithm
	Purposes  []Purpose
	HasPIN    bool
	PCRs      []uint // SHA-256 PCRs the key is bound to
	Created   time.Time
	// PublicKey is *ecdsa.PublicKey or *rsa.PublicKey; nil for sealed data.
	PublicKey crypto.PublicKey
	// PublicKeyDER is PublicKey as DER SubjectPublicKeyInfo.
	PublicKeyDER []byte
	// Versions of a symmetric key (hmac-sha256), oldest first.
	Versions             []KeyVersion
	MinDecryptionVersion uint32
	// RotationPeriod is how often the agent adds a version by itself (0:
	// never); symmetric keys only.
	RotationPeriod time.Duration
	// Origin is "generated", "imported" or "imported-wrapped".
	Origin string
	// ExportableTo is the Name of the backup TPM's SRK the key may be
	// exported to (ExportKey); nil: the key never leaves its TPM.
	ExportableTo []byte
	// SSH is the key's ssh-agent marking; nil: not offered to ssh.
	SSH *SSHMarking
}

// KeyVersion is one version of a symmetric key.
type KeyVersion struct {
	Number   uint32
	Created  time.Time
	Disabled bool
}

// HasPurpose reports whether k may be used for p.
func (k *Key) HasPurpose(p Purpose) bool {
	for _, q := range k.Purposes {
		if q == p {
			return true
		}
	}
	return false
}

func keyFromWire(ki *protocol.KeyInfo) (*Key, error) {
	k := &Key{
		Alias:        ki.Alias,
		ID:           ki.KeyID,
		OwnerUID:     ki.OwnerUID,
		Algorithm:    Algorithm(ki.Algorithm),
		HasPIN:       ki.HasPIN,
		PCRs:         ki.PCRs,
		Created:      time.Unix(ki.Created, 0),
		PublicKeyDER: ki.PublicKey,
	}
	for _, p := range ki.Purposes {
		k.Purposes = append(k.Purposes, Purpose(p))
	}
	k.MinDecryptionVersion = ki.MinDecryptionVersion
	k.RotationPeriod = time.Duration(ki.RotationPeriod) * time.Second
	k.Origin, k.ExportableTo = ki.Origin, ki.ExportableTo
	if k.Origin == "" {
		k.Origin = protocol.OriginGenerated
	}
	k.SSH = sshFromWire(ki.SSH)
	for _, v := range ki.Versions {
		k.Versions = append(k.Versions, KeyVersion{Number: v.Number, Created: time.Unix(v.Created, 0),
			Disabled: v.State == protocol.VersionDisabled})
	}
	if len(ki.PublicKey) > 0 {
		pub, err := x509.ParsePKIXPublicKey(ki.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("key %q: x509.ParsePKIXPublicKey: %w", ki.Alias, err)
		}
		k.PublicKey = pub
	}
	return k, nil
}

// ServerInfo is what the agent said about itself in Hello.
type ServerInfo struct {
	Version         uint
	AgentVersion    string
	TPMManufacturer string
	TPMFirmware     string
	Algorithms      []string
	Operations      []string
	MaxFrameSize    uint32
	// UID and PID are the socket's peer credentials (SO_PEERCRED), which
	// Dial checked: those of the process that called listen(2) on the
	// socket, taken at that moment. When tpmkeyd binds its own socket they
	// are the daemon's; under socket activation they are the service
	// manager's (systemd: uid 0, pid 1), and say nothing about the uid the
	// daemon runs as. They never change after listen: a later setuid or an
	// exec is not seen.
	UID uint32
	PID int32
}

// Status is the agent's state as seen by the caller.
type Status struct {
	AgentVersion    string
	TPMManufacturer string
	TPMFirmware     string
	Uptime          time.Duration
	Keys            uint64            // the caller's own keys
	Connections     uint64            // open connections, all uids
	KeysPerUID      map[uint32]uint64 // admins only
	Lockout         *Lockout          // admins only: the TPM's wrong-PIN counter
	TPMQueue        uint64            // admins only: jobs waiting for the TPM
	// SRKPublic is the TPM's storage root key as a marshalled
	// TPM2B_PUBLIC: what keys are wrapped for (tpm2_duplicate -U,
	// tpmkey wrap --for) and what WithBackupTo names on other machines.
	SRKPublic []byte
	SRKName   []byte // its TPM Name
}

// Lockout is the TPM's dictionary-attack state, for admins.
type Lockout struct {
	Counter   uint32        // wrong authorizations the TPM counts now
	MaxTries  uint32        // at this count the TPM locks out every PIN key
	Interval  time.Duration // the TPM forgets one failure per interval
	Recovery  time.Duration // lockout recovery time
	InLockout bool
}
