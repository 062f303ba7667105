package wrap

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
	"io"

	"github.com/google/go-tpm/tpm2"
)

// Blob is a wrapped key as TPM2_Import takes it, each part marshalled the
// way tpm2-tools writes its files: the object's TPM2B_PUBLIC
// (`tpm2_create -u`), the duplicate as a TPM2B_PRIVATE (`tpm2_duplicate
// -r`) and the encrypted seed as a TPM2B_ENCRYPTED_SECRET (`tpm2_duplicate
// -s`).
type Blob struct {
	Public    []byte
	Duplicate []byte
	Seed      []byte
	// PINScheme, in a wrapped-key file only, says how the key's auth
	// value derives from its PIN ("raw" or "sha256", as tpmkeyd's
	// protocol names them); "" for none said.
	PINScheme string
}

// Size limits of the parts, checked before anything is decoded.
const (
	MaxPublicSize    = 1024
	MaxDuplicateSize = 2048
	MaxSeedSize      = 1024
)

// Wrap encrypts the object (pub, sens) for the storage key parent, as
// TPM2_Duplicate with an outer wrapper and no inner one would.
func Wrap(random io.Reader, parent *tpm2.TPMTPublic, pub tpm2.TPMTPublic, sens tpm2.TPMTSensitive) (*Blob, error) {
	ek, err := tpm2.ImportEncapsulationKey(parent)
	if err != nil {
		return nil, fmt.Errorf("%w: parent: %v", ErrUnsupported, err)
	}
	name, err := tpm2.ObjectName(&pub)
	if err != nil {
		return nil, fmt.Errorf("tpm2.ObjectName: %w", err)
	}
	sensBytes := tpm2.Marshal(sens)
	defer clear(sensBytes)
	dup, seed, err := tpm2.CreateDuplicate(random, ek, name.Buffer, sensBytes)
	if err != nil {
		return nil, fmt.Errorf("tpm2.CreateDuplicate: %w", err)
	}
	return &Blob{
		Public:    tpm2.Marshal(tpm2.New2B(pub)),
		Duplicate: tpm2.Marshal(tpm2.TPM2BPrivate{Buffer: dup}),
		Seed:      tpm2.Marshal(tpm2.TPM2BEncryptedSecret{Buffer: seed}),
	}, nil
}

// Check verifies that every part is one well-sized TPM2B and that the
// public area decodes; it returns the public area and the unwrapped
// contents of the duplicate and the seed.
func (b *Blob) Check() (*tpm2.TPMTPublic, []byte, []byte, error) {
	pubBytes, err := sized2B(b.Public, MaxPublicSize)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: public: %v", ErrMalformed, err)
	}
	dup, err := sized2B(b.Duplicate, MaxDuplicateSize)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: duplicate: %v", ErrMalformed, err)
	}
	seed, err := sized2B(b.Seed, MaxSeedSize)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: seed: %v", ErrMalformed, err)
	}
	pub, err := unmarshalPublic(pubBytes)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w: public: %v", ErrMalformed, err)
	}
	return pub, dup, seed, nil
}

func sized2B(b []byte, limit int) ([]byte, error) {
	if len(b) < 3 || len(b) > limit+2 {
		return nil, fmt.Errorf("%d bytes", len(b))
	}
	if n := int(binary.BigEndian.Uint16(b)); n != len(b)-2 {
		return nil, fmt.Errorf("size field %d, %d bytes follow", n, len(b)-2)
	}
	return b[2:], nil
}

// unmarshalPublic decodes a TPMT_PUBLIC that must re-encode to the same
// bytes.
func unmarshalPublic(b []byte) (pub *tpm2.TPMTPublic, err error) {
	defer func() {
		if r := recover(); r != nil {
			pub, err = nil, fmt.Errorf("undecodable: %v", r)
		}
	}()
	pub, err = tpm2.Unmarshal[tpm2.TPMTPublic](b)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(tpm2.Marshal(*pub), b) {
		return nil, fmt.Errorf("not canonical")
	}
	return pub, nil
}

// PEM block types of a wrapped-key file (`tpmkey wrap --out`).
const (
	pemPublic    = "TPM2B PUBLIC"
	pemDuplicate = "TPM2B PRIVATE"
	pemSeed      = "TPM2B ENCRYPTED SECRET"
	// pinSchemeHeader is the PEM header of the public block that carries
	// Blob.PINScheme.
	pinSchemeHeader = "Pin-Scheme"
)

// MarshalPEM returns the blob as three PEM blocks.
func (b *Blob) MarshalPEM() []byte {
	var out []byte
	pub := &pem.Block{Type: pemPublic, Bytes: b.Public}
	if b.PINScheme != "" {
		pub.Headers = map[string]string{pinSchemeHeader: b.PINScheme}
	}
	out = append(out, pem.EncodeToMemory(pub)...)
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemDuplicate, Bytes: b.Duplicate})...)
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemSeed, Bytes: b.Seed})...)
	return out
}

// ParsePEM reads what MarshalPEM wrote.
func ParsePEM(data []byte) (*Blob, error) {
	b := &Blob{}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch block.Type {
		case pemPublic:
			b.Public, b.PINScheme = block.Bytes, block.Headers[pinSchemeHeader]
		case pemDuplicate:
			b.Duplicate = block.Bytes
		case pemSeed:
			b.Seed = block.Bytes
		}
	}
	if b.Public == nil || b.Duplicate == nil || b.Seed == nil {
		return nil, fmt.Errorf("%w: want PEM blocks %q, %q and %q", ErrMalformed, pemPublic, pemDuplicate, pemSeed)
	}
	return b, nil
}

// ParseParent reads a storage parent's public key: a marshalled
// TPM2B_PUBLIC (`tpmkey status --srk-pub --format tpm2b`, `tpm2_readpublic
// -o`), or a PEM SubjectPublicKeyInfo of an ECC P-256 key, taken to be an
// SRK made from the standard template (TCG EK/SRK profile; go-tpm's
// ECCSRKTemplate) with that point.
func ParseParent(data []byte) (*tpm2.TPMTPublic, error) {
	if block, _ := pem.Decode(data); block != nil {
		return parentFromPEM(block)
	}
	pubBytes, err := sized2B(data, MaxPublicSize)
	if err != nil {
		return nil, fmt.Errorf("%w: parent TPM2B_PUBLIC: %v", ErrMalformed, err)
	}
	pub, err := unmarshalPublic(pubBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: parent TPM2B_PUBLIC: %v", ErrMalformed, err)
	}
	a := pub.ObjectAttributes
	if !a.Restricted || !a.Decrypt || a.SignEncrypt {
		return nil, fmt.Errorf("%w: parent is not a storage key", ErrUnsupported)
	}
	if _, err := tpm2.ImportEncapsulationKey(pub); err != nil {
		return nil, fmt.Errorf("%w: parent: %v", ErrUnsupported, err)
	}
	return pub, nil
}

func parentFromPEM(block *pem.Block) (*tpm2.TPMTPublic, error) {
	if block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: PEM block %q, want PUBLIC KEY", ErrMalformed, block.Type)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: a PEM parent must be an ECC P-256 SRK; give its TPM2B_PUBLIC otherwise", ErrUnsupported)
	}
	pt, err := ec.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	pub := tpm2.ECCSRKTemplate
	pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: pt[1:33]},
		Y: tpm2.TPM2BECCParameter{Buffer: pt[33:]},
	})
	return &pub, nil
}

// Name is the TPM Name of a public area (nameAlg || H(public)).
func Name(pub *tpm2.TPMTPublic) ([]byte, error) {
	n, err := tpm2.ObjectName(pub)
	if err != nil {
		return nil, fmt.Errorf("tpm2.ObjectName: %w", err)
	}
	return n.Buffer, nil
}
