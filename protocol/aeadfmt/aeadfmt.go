// Package aeadfmt is the tpmkeyd single-shot AEAD ciphertext format
// (docs/PROTOCOL.md, "Appendix: AEAD ciphertext"): a self-describing,
// versioned, key-committing AES-256-GCM envelope whose per-message subkey
// is derived with HKDF-SHA256 (RFC 5869) from a key version's working key.
// It imports nothing of the daemon, so that clients and other tools can
// parse ciphertexts and, holding a working key, open them.
package aeadfmt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

// Layout of a version-1 ciphertext, in bytes.
const (
	FormatV1       = 0x01 // the first byte of every version-1 ciphertext
	KeyIDSize      = 16
	SaltSize       = 32
	NonceSize      = 12
	CommitmentSize = 32
	TagSize        = 16
	WorkingKeySize = 32

	// HeaderSize is format | key_id | key version | salt | nonce.
	HeaderSize = 1 + KeyIDSize + 4 + SaltSize + NonceSize
	// Overhead is what a ciphertext adds to its plaintext.
	Overhead = HeaderSize + CommitmentSize + TagSize
)

// Labels of the derivations (ASCII, no terminator).
const (
	// WorkingKeyLabel starts the TPM2_HMAC input that derives a key
	// version's working key: label || key_id || version (u32 BE).
	WorkingKeyLabel = "tpmkeyd aead v1"
	// SubkeyInfo starts HKDF's info: SubkeyInfo || header (65 bytes).
	SubkeyInfo = "tpmkeyd aead v1 subkey"
)

// Errors. ErrDecrypt is every failure to open a well-formed ciphertext: a
// wrong key, context, commitment or tag, told apart from nothing else.
var (
	ErrFormat  = errors.New("aeadfmt: not a tpmkeyd AEAD ciphertext")
	ErrDecrypt = errors.New("aeadfmt: decryption failed")
	ErrKeySize = errors.New("aeadfmt: working key must be 32 bytes")
)

// Header is the clear part of a ciphertext: who can open it and the
// per-message randomness.
type Header struct {
	KeyID      [KeyIDSize]byte
	KeyVersion uint32
	Salt       [SaltSize]byte
	Nonce      [NonceSize]byte
}

// NewHeader makes a header for a new message with fresh salt and nonce
// from rnd (crypto/rand.Reader in production).
func NewHeader(keyID [KeyIDSize]byte, version uint32, rnd io.Reader) (Header, error) {
	h := Header{KeyID: keyID, KeyVersion: version}
	if _, err := io.ReadFull(rnd, h.Salt[:]); err != nil {
		return Header{}, fmt.Errorf("aeadfmt.NewHeader: %w", err)
	}
	if _, err := io.ReadFull(rnd, h.Nonce[:]); err != nil {
		return Header{}, fmt.Errorf("aeadfmt.NewHeader: %w", err)
	}
	return h, nil
}

// Append appends the header's HeaderSize bytes to b.
func (h *Header) Append(b []byte) []byte {
	b = append(b, FormatV1)
	b = append(b, h.KeyID[:]...)
	b = binary.BigEndian.AppendUint32(b, h.KeyVersion)
	b = append(b, h.Salt[:]...)
	return append(b, h.Nonce[:]...)
}

// ParseHeader reads the header of ciphertext, which must be at least
// Overhead bytes long and start with FormatV1 (ErrFormat otherwise).
func ParseHeader(ciphertext []byte) (Header, error) {
	var h Header
	if len(ciphertext) < Overhead || ciphertext[0] != FormatV1 {
		return h, ErrFormat
	}
	p := ciphertext[1:]
	copy(h.KeyID[:], p)
	p = p[KeyIDSize:]
	h.KeyVersion = binary.BigEndian.Uint32(p)
	p = p[4:]
	copy(h.Salt[:], p)
	copy(h.Nonce[:], p[SaltSize:])
	return h, nil
}

// WorkingKeyInput is the TPM2_HMAC input whose result, under a key
// version's keyedhash object, is that version's working key.
func WorkingKeyInput(keyID [KeyIDSize]byte, version uint32) []byte {
	b := append([]byte(WorkingKeyLabel), keyID[:]...)
	return binary.BigEndian.AppendUint32(b, version)
}

// EncodeContext is the canonical encoding of an encryption context: the
// pair count (u32 BE), then each pair in increasing byte order of its key,
// as u32 BE length || key bytes || u32 BE length || value bytes. An empty
// or nil context is the four bytes 00 00 00 00.
func EncodeContext(ctx map[string]string) []byte {
	keys := make([]string, 0, len(ctx))
	n := 4
	for k, v := range ctx {
		keys = append(keys, k)
		n += 8 + len(k) + len(v)
	}
	slices.Sort(keys) // Go compares strings by bytes
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint32(b, uint32(len(ctx[k])))
		b = append(b, ctx[k]...)
	}
	return b
}

// MessageKey is one message's AES-256 subkey and commitment value: the 64
// bytes of HKDF-SHA256(IKM = working key, salt = header's salt,
// info = SubkeyInfo || header), split 32 | 32. It opens or seals only the
// message of the header it was derived for. Wipe it when done.
type MessageKey struct {
	header     [HeaderSize]byte
	subkey     [WorkingKeySize]byte
	commitment [CommitmentSize]byte
}

// DeriveMessageKey derives the message key of h from workingKey, the
// working key of h's key version.
func DeriveMessageKey(workingKey []byte, h Header) (*MessageKey, error) {
	if len(workingKey) != WorkingKeySize {
		return nil, ErrKeySize
	}
	k := &MessageKey{}
	h.Append(k.header[:0])
	var okm [WorkingKeySize + CommitmentSize]byte
	if err := deriveHKDF(okm[:], workingKey, h.Salt[:], SubkeyInfo+string(k.header[:])); err != nil {
		return nil, fmt.Errorf("hkdf.Key: %w", err)
	}
	copy(k.subkey[:], okm[:])
	copy(k.commitment[:], okm[WorkingKeySize:])
	clear(okm[:])
	return k, nil
}

// Wipe zeroes the key.
func (k *MessageKey) Wipe() {
	clear(k.subkey[:])
	clear(k.commitment[:])
}

func (k *MessageKey) gcm() (cipher.AEAD, error) {
	b, err := aes.NewCipher(k.subkey[:])
	if err != nil {
		return nil, fmt.Errorf("aes.NewCipher: %w", err)
	}
	return cipher.NewGCM(b)
}

// aad is header || EncodeContext(ctx).
func aad(header []byte, ctx map[string]string) []byte {
	return append(slices.Clip(slices.Clone(header)), EncodeContext(ctx)...)
}

// Seal encrypts plaintext, binding ctx, and returns
// header || commitment || ciphertext || tag.
func (k *MessageKey) Seal(plaintext []byte, ctx map[string]string) ([]byte, error) {
	return k.SealTo(make([]byte, 0, Overhead+len(plaintext)), plaintext, ctx)
}

// SealTo is Seal appending to dst, which must not overlap plaintext.
func (k *MessageKey) SealTo(dst, plaintext []byte, ctx map[string]string) ([]byte, error) {
	aead, err := k.gcm()
	if err != nil {
		return nil, err
	}
	out := append(dst, k.header[:]...)
	out = append(out, k.commitment[:]...)
	nonce := k.header[HeaderSize-NonceSize:]
	return aead.Seal(out, nonce, plaintext, aad(k.header[:], ctx)), nil
}

// Open checks and decrypts ciphertext, which must carry the header k was
// derived for, with the context it was sealed with. The commitment is
// compared in constant time before the tag is checked. Every failure is
// ErrDecrypt, or ErrFormat for a ciphertext too short to be one.
func (k *MessageKey) Open(ciphertext []byte, ctx map[string]string) ([]byte, error) {
	return k.OpenTo(nil, ciphertext, ctx)
}

// OpenTo is Open appending the plaintext to dst, which must not overlap
// ciphertext. On failure dst's spare capacity holds nothing of it.
func (k *MessageKey) OpenTo(dst, ciphertext []byte, ctx map[string]string) ([]byte, error) {
	if len(ciphertext) < Overhead || ciphertext[0] != FormatV1 {
		return nil, ErrFormat
	}
	if subtle.ConstantTimeCompare(ciphertext[:HeaderSize], k.header[:]) != 1 ||
		subtle.ConstantTimeCompare(ciphertext[HeaderSize:HeaderSize+CommitmentSize], k.commitment[:]) != 1 {
		return nil, ErrDecrypt
	}
	aead, err := k.gcm()
	if err != nil {
		return nil, err
	}
	nonce := k.header[HeaderSize-NonceSize:]
	pt, err := aead.Open(dst, nonce, ciphertext[HeaderSize+CommitmentSize:], aad(k.header[:], ctx))
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// Seal encrypts plaintext for the header h under workingKey, the working
// key of h's key version, binding ctx.
func Seal(workingKey []byte, h Header, plaintext []byte, ctx map[string]string) ([]byte, error) {
	k, err := DeriveMessageKey(workingKey, h)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.Seal(plaintext, ctx)
}

// Open checks and decrypts ciphertext under workingKey, the working key of
// the key version its header names, with the context it was sealed with.
func Open(workingKey, ciphertext []byte, ctx map[string]string) ([]byte, error) {
	h, err := ParseHeader(ciphertext)
	if err != nil {
		return nil, err
	}
	k, err := DeriveMessageKey(workingKey, h)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	return k.Open(ciphertext, ctx)
}
