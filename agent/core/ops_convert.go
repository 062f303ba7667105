package core

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Conversions between wire names and tpm types, and the checks on request
// fields that need no TPM.

// algNames pairs each wire algorithm name with the TPM layer's algorithm.
var algNames = []struct {
	alg  tpm.Algorithm
	name string
}{
	{tpm.ECCP256, protocol.AlgECP256},
	{tpm.ECCP384, protocol.AlgECP384},
	{tpm.RSA2048, protocol.AlgRSA2048},
	{tpm.RSA3072, protocol.AlgRSA3072},
	{tpm.Sealed, protocol.AlgSealed},
	{tpm.HMACSHA256, protocol.AlgHMACSHA256},
}

func algFromWire(name string) (tpm.Algorithm, bool) {
	for _, n := range algNames {
		if n.name == name {
			return n.alg, true
		}
	}
	return 0, false
}

func algToWire(a tpm.Algorithm) string {
	for _, n := range algNames {
		if n.alg == a {
			return n.name
		}
	}
	return ""
}

func isRSA(a tpm.Algorithm) bool { return a == tpm.RSA2048 || a == tpm.RSA3072 }

// parsePurposes checks the requested purposes against the algorithm (EC:
// sign, agree; RSA: sign, decrypt) and returns them in canonical order.
func parsePurposes(a tpm.Algorithm, names []string) (tpm.Purpose, []string, error) {
	if a == tpm.HMACSHA256 {
		return macPurposes(names)
	}
	if len(names) == 0 {
		names = []string{protocol.PurposeSign}
	}
	var p tpm.Purpose
	for _, n := range names {
		switch n {
		case protocol.PurposeSign:
			p |= tpm.PurposeSign
		case protocol.PurposeDecrypt:
			p |= tpm.PurposeDecrypt
		case protocol.PurposeAgree:
			p |= tpm.PurposeAgree
		case protocol.PurposeMAC:
			return 0, nil, fmt.Errorf("only hmac-sha256 keys make MACs: %w", ErrIncompatiblePurpose)
		default:
			return 0, nil, protocol.Errorf(protocol.StatusBadRequest, "unknown purpose %q", n)
		}
	}
	if isRSA(a) && p&tpm.PurposeAgree != 0 {
		return 0, nil, fmt.Errorf("RSA keys cannot agree: %w", ErrIncompatiblePurpose)
	}
	if !isRSA(a) && p&tpm.PurposeDecrypt != 0 {
		return 0, nil, fmt.Errorf("EC keys cannot decrypt: %w", ErrIncompatiblePurpose)
	}
	var wire []string
	for _, c := range []struct {
		bit  tpm.Purpose
		name string
	}{{tpm.PurposeSign, protocol.PurposeSign}, {tpm.PurposeDecrypt, protocol.PurposeDecrypt}, {tpm.PurposeAgree, protocol.PurposeAgree}} {
		if p&c.bit != 0 {
			wire = append(wire, c.name)
		}
	}
	return p, wire, nil
}

// macPurposes: an hmac-sha256 key has the one purpose mac.
func macPurposes(names []string) (tpm.Purpose, []string, error) {
	for _, n := range names {
		switch n {
		case protocol.PurposeMAC:
		case protocol.PurposeSign, protocol.PurposeDecrypt, protocol.PurposeAgree:
			return 0, nil, fmt.Errorf("hmac-sha256 keys only make MACs: %w", ErrIncompatiblePurpose)
		default:
			return 0, nil, protocol.Errorf(protocol.StatusBadRequest, "unknown purpose %q", n)
		}
	}
	return tpm.PurposeMAC, []string{protocol.PurposeMAC}, nil
}

// checkPCRs accepts SHA-256 bank indices 0..23, sorted and without repeats.
func checkPCRs(pcrs []uint) ([]uint, []int, error) {
	if len(pcrs) == 0 {
		return nil, nil, nil
	}
	sorted := slices.Clone(pcrs)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	ints := make([]int, len(sorted))
	for i, p := range sorted {
		if p > 23 {
			return nil, nil, protocol.Errorf(protocol.StatusBadRequest, "pcr %d out of range 0..23", p)
		}
		ints[i] = int(p)
	}
	return sorted, ints, nil
}

// pinLabel separates tpmkeyd's PIN hashing from any other use of SHA-256.
const pinLabel = "tpmkeyd pin v1\x00"

// pinAuth is the TPM auth value of pin under scheme: for new keys,
// SHA-256 over pinLabel, the PIN's length (u16, big-endian), the PIN, and
// zero bytes up to a multiple of SHA-256's 64-byte block, so that PINs
// compare exactly (the TPM strips trailing zero bytes from an auth value:
// "1234\x00" used to unlock a key made with "1234", and a PIN of "\x00"
// gave has_pin with an empty auth). The padding keeps the PIN out of the
// hash's internal buffer, which cannot be wiped: whole blocks are hashed
// straight from our slice, which is. For records made before, the auth
// value is the PIN itself. The derived value is wiped with the call's
// other secrets.
func (call *Call) pinAuth(scheme store.PINScheme, pin []byte) []byte {
	if len(pin) == 0 || scheme == store.PINRaw {
		return pin
	}
	n := len(pinLabel) + 2 + len(pin)
	msg := make([]byte, (n+sha256.BlockSize-1)/sha256.BlockSize*sha256.BlockSize)
	copy(msg, pinLabel)
	binary.BigEndian.PutUint16(msg[len(pinLabel):], uint16(len(pin)))
	copy(msg[len(pinLabel)+2:], pin)
	h := sha256.New()
	h.Write(msg)
	clear(msg)
	a := h.Sum(nil)
	call.wipe(a)
	return a
}

func checkPIN(pin []byte) error {
	if len(pin) > protocol.MaxPINSize {
		return protocol.Errorf(protocol.StatusBadRequest, "pin longer than %d bytes", protocol.MaxPINSize)
	}
	return nil
}

// auth is what the TPM needs to use the call's key with pin: the auth
// value derived by the key's PIN scheme, and its PCRs.
func (call *Call) auth(pin []byte) tpm.Auth {
	rec := call.key
	a := tpm.Auth{PIN: call.pinAuth(rec.PINScheme, pin)}
	for _, p := range rec.PCRs {
		a.PCRs = append(a.PCRs, int(p))
	}
	return a
}

// pinScheme is the scheme a new key with pin gets.
func pinScheme(pin []byte) store.PINScheme {
	if len(pin) == 0 {
		return store.PINRaw
	}
	return store.PINSHA256
}

// hashFromWire is the hash a request names; absent means SHA-256.
func hashFromWire(name string) (crypto.Hash, error) {
	if name == "" {
		return crypto.SHA256, nil
	}
	if h, ok := protocol.HashByName(name); ok {
		return h, nil
	}
	return 0, protocol.Errorf(protocol.StatusBadRequest, "unknown hash %q", name)
}

// digestOf returns the digest given, or hashes the message: exactly one of
// them must be non-empty (an empty one counts as absent, docs §4.3).
// Hashing runs on the request's goroutine, never under the TPM's lock.
func digestOf(h crypto.Hash, digest, message []byte) ([]byte, error) {
	switch {
	case len(digest) > 0 && len(message) > 0:
		return nil, protocol.Errorf(protocol.StatusBadRequest, "give digest or message, not both")
	case len(digest) > 0:
		if len(digest) != h.Size() {
			return nil, protocol.Errorf(protocol.StatusBadRequest, "digest is %d bytes, want %d for %v", len(digest), h.Size(), h)
		}
		return digest, nil
	case len(message) == 0:
		return nil, protocol.Errorf(protocol.StatusBadRequest, "digest or message is required")
	}
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(message)
		return d[:], nil
	case crypto.SHA512:
		d := sha512.Sum512(message)
		return d[:], nil
	}
	d := sha256.Sum256(message)
	return d[:], nil
}

// publicKey parses the record's public key; sealed records have none.
func publicKey(rec *store.Record) (crypto.PublicKey, error) {
	if len(rec.PublicDER) == 0 {
		return nil, fmt.Errorf("%q has no public key: %w", rec.Alias, ErrIncompatiblePurpose)
	}
	pub, err := x509.ParsePKIXPublicKey(rec.PublicDER)
	if err != nil {
		return nil, fmt.Errorf("x509.ParsePKIXPublicKey of %q: %w", rec.Alias, err)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("%q has a %T public key: %w", rec.Alias, pub, ErrIncompatiblePurpose)
}

func keyInfo(r *store.Record) protocol.KeyInfo {
	return protocol.KeyInfo{
		Alias: r.Alias, KeyID: r.KeyID[:], OwnerUID: r.OwnerUID, Algorithm: r.Algorithm,
		Purposes: r.Purposes, HasPIN: r.HasPIN, PCRs: r.PCRs, Created: r.Created.Unix(),
		PublicKey: r.PublicDER, Versions: versionInfo(r), MinDecryptionVersion: r.MinDecryptionVersion,
		RotationPeriod: uint64(r.RotationPeriod / time.Second),
		Origin:         origin(r), ExportableTo: r.ExportTo,
		SSH: sshInfo(r),
	}
}

// origin is the record's origin as KeyInfo says it.
func origin(r *store.Record) string {
	if r.Origin == "" {
		return protocol.OriginGenerated
	}
	return r.Origin
}
