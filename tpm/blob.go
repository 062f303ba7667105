package tpm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/google/go-tpm/tpm2"
)

// Size limits checked before anything is parsed. A TPM2B_PUBLIC for
// RSA-3072 with a policy is under 500 bytes; a TPM2B_PRIVATE under 1 KiB.
const (
	maxPublicSize  = 1024
	maxPrivateSize = 2048
	maxNameSize    = 2 + 64
)

// parsedBlob is a Blob checked and decoded.
type parsedBlob struct {
	id         [32]byte // SHA-256 of Public||Private: the cache key
	public     tpm2.TPMTPublic
	public2B   tpm2.TPM2BPublic
	private    tpm2.TPM2BPrivate
	loadParms  []byte // marshalled TPM2B_PRIVATE || TPM2B_PUBLIC, for TPM2_Load
	parentName []byte
	alg        Algorithm
	purposes   Purpose
	hasPIN     bool
	hasPolicy  bool // a PCR policy (userWithAuth clear): used with a policy session
	// movable is an object that is neither fixedTPM nor fixedParent: an
	// imported key, or one made exportable (import.go).
	movable bool
	// dupPolicy is a movable object used with its auth value whose
	// authPolicy only serves TPM2_Duplicate (an exportable key).
	dupPolicy bool
}

// parseBlob validates b without touching the TPM.
func parseBlob(b *Blob) (*parsedBlob, error) {
	p, err := decodeBlob(b)
	if err != nil {
		return nil, err
	}
	if err := p.classify(); err != nil {
		return nil, err
	}
	return p, nil
}

// decodeBlob checks sizes and decodes b, without judging what it is.
func decodeBlob(b *Blob) (*parsedBlob, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil", ErrBadBlob)
	}
	pubBytes, err := sized2B(b.Public, maxPublicSize)
	if err != nil {
		return nil, fmt.Errorf("%w: public: %v", ErrBadBlob, err)
	}
	privBytes, err := sized2B(b.Private, maxPrivateSize)
	if err != nil {
		return nil, fmt.Errorf("%w: private: %v", ErrBadBlob, err)
	}
	if len(b.ParentName) < 2+sha256.Size || len(b.ParentName) > maxNameSize {
		return nil, fmt.Errorf("%w: parent name of %d bytes", ErrBadBlob, len(b.ParentName))
	}
	pub, err := unmarshalPublic(pubBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: public: %v", ErrBadBlob, err)
	}
	p := &parsedBlob{
		public:     *pub,
		public2B:   tpm2.BytesAs2B[tpm2.TPMTPublic](pubBytes),
		private:    tpm2.TPM2BPrivate{Buffer: privBytes},
		loadParms:  append(append(make([]byte, 0, len(b.Private)+len(b.Public)), b.Private...), b.Public...),
		parentName: b.ParentName,
		id:         blobID(b),
	}
	return p, nil
}

// blobID identifies a blob in the caches.
func blobID(b *Blob) [32]byte {
	h := sha256.New()
	h.Write(b.Public)
	h.Write(b.Private)
	var id [32]byte
	copy(id[:], h.Sum(nil))
	return id
}

// sized2B checks a marshalled TPM2B: a u16 size matching the rest, non-empty.
func sized2B(b []byte, limit int) ([]byte, error) {
	if len(b) < 3 || len(b) > limit+2 {
		return nil, fmt.Errorf("%d bytes", len(b))
	}
	if n := int(binary.BigEndian.Uint16(b)); n != len(b)-2 {
		return nil, fmt.Errorf("size field %d, %d bytes follow", n, len(b)-2)
	}
	return b[2:], nil
}

// unmarshalPublic decodes a TPMT_PUBLIC and insists it re-encodes to the
// same bytes, so nothing trails it and no field is ambiguous.
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

// classify derives algorithm, purposes and auth kind, refusing any object
// this package would not have created.
func (p *parsedBlob) classify() error {
	pub := &p.public
	a := pub.ObjectAttributes
	if pub.NameAlg != tpm2.TPMAlgSHA256 || a.FixedTPM != a.FixedParent || a.Restricted {
		return fmt.Errorf("%w: foreign object attributes", ErrBadBlob)
	}
	if n := len(pub.AuthPolicy.Buffer); n != 0 && n != sha256.Size {
		return fmt.Errorf("%w: auth policy of %d bytes", ErrBadBlob, n)
	}
	p.movable = !a.FixedTPM
	p.hasPolicy = len(pub.AuthPolicy.Buffer) > 0
	p.hasPIN = !a.NoDA
	if p.movable && p.hasPolicy && a.UserWithAuth {
		// Exportable: the policy authorizes TPM2_Duplicate only; every
		// use is with the auth value.
		p.hasPolicy, p.dupPolicy = false, true
	}
	if !p.dupPolicy && p.hasPolicy == a.UserWithAuth {
		return fmt.Errorf("%w: userWithAuth must be set exactly when there is no policy", ErrBadBlob)
	}
	var err error
	switch pub.Type {
	case tpm2.TPMAlgECC:
		err = p.classifyECC()
	case tpm2.TPMAlgRSA:
		err = p.classifyRSA()
	case tpm2.TPMAlgKeyedHash:
		err = p.classifyKeyedHash()
	default:
		err = fmt.Errorf("%w: object type %v", ErrBadBlob, pub.Type)
	}
	return err
}

// classifyKeyedHash tells sealed data (scheme NULL, no key attributes)
// from an HMAC-SHA256 key, which signs only and, unless it is movable
// (imported), was made by the TPM.
func (p *parsedBlob) classifyKeyedHash() error {
	parms, err := p.public.Parameters.KeyedHashDetail()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBlob, err)
	}
	a := p.public.ObjectAttributes
	switch parms.Scheme.Scheme {
	case tpm2.TPMAlgNull:
		p.alg = Sealed
		if a.SignEncrypt || a.Decrypt || a.SensitiveDataOrigin {
			return fmt.Errorf("%w: sealed object with key attributes", ErrBadBlob)
		}
		return nil
	case tpm2.TPMAlgHMAC:
		h, err := parms.Scheme.Details.HMAC()
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadBlob, err)
		}
		if h.HashAlg != tpm2.TPMAlgSHA256 {
			return fmt.Errorf("%w: HMAC key with hash %v", ErrBadBlob, h.HashAlg)
		}
		// An imported HMAC key (movable) was not made by the TPM.
		if !a.SignEncrypt || a.Decrypt || (!p.movable && !a.SensitiveDataOrigin) {
			return fmt.Errorf("%w: HMAC key attributes sign=%v decrypt=%v sensitiveDataOrigin=%v",
				ErrBadBlob, a.SignEncrypt, a.Decrypt, a.SensitiveDataOrigin)
		}
		p.alg, p.purposes = HMACSHA256, PurposeMAC
		return nil
	}
	return fmt.Errorf("%w: keyedhash scheme %v", ErrBadBlob, parms.Scheme.Scheme)
}

func (p *parsedBlob) classifyECC() error {
	parms, err := p.public.Parameters.ECCDetail()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBlob, err)
	}
	switch parms.CurveID {
	case tpm2.TPMECCNistP256:
		p.alg = ECCP256
	case tpm2.TPMECCNistP384:
		p.alg = ECCP384
	default:
		return fmt.Errorf("%w: curve %v", ErrBadBlob, parms.CurveID)
	}
	// The TPM's decrypt attribute is what ECDH_ZGen needs.
	return p.classifyPurposes(PurposeAgree)
}

func (p *parsedBlob) classifyRSA() error {
	parms, err := p.public.Parameters.RSADetail()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadBlob, err)
	}
	switch parms.KeyBits {
	case 2048:
		p.alg = RSA2048
	case 3072:
		p.alg = RSA3072
	default:
		return fmt.Errorf("%w: RSA-%d", ErrBadBlob, parms.KeyBits)
	}
	return p.classifyPurposes(PurposeDecrypt)
}

// classifyPurposes maps the sign and decrypt attributes to purposes (the
// decrypt attribute means decryptAs for this algorithm), refuses a key
// that can do nothing, and checks the public key.
func (p *parsedBlob) classifyPurposes(decryptAs Purpose) error {
	a := p.public.ObjectAttributes
	if a.SignEncrypt {
		p.purposes |= PurposeSign
	}
	if a.Decrypt {
		p.purposes |= decryptAs
	}
	if p.purposes == 0 {
		return fmt.Errorf("%w: key with no purpose", ErrBadBlob)
	}
	_, err := p.publicKey()
	return err
}

// publicKey converts the public area, checking that an ECC point is on
// its curve and an RSA modulus has the declared size.
func (p *parsedBlob) publicKey() (crypto.PublicKey, error) {
	switch p.alg {
	case ECCP256, ECCP384:
		pt, err := p.public.Unique.ECC()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBlob, err)
		}
		return eccPublic(p.alg, pt.X.Buffer, pt.Y.Buffer)
	case RSA2048, RSA3072:
		parms, _ := p.public.Parameters.RSADetail()
		n, err := p.public.Unique.RSA()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBlob, err)
		}
		if len(n.Buffer) != int(parms.KeyBits)/8 || n.Buffer[0]&0x80 == 0 {
			return nil, fmt.Errorf("%w: RSA modulus of %d bytes", ErrBadBlob, len(n.Buffer))
		}
		e := int(parms.Exponent)
		if e == 0 {
			e = 65537
		}
		if e < 3 || e&1 == 0 {
			return nil, fmt.Errorf("%w: RSA exponent %d", ErrBadBlob, e)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n.Buffer), E: e}, nil
	}
	return nil, fmt.Errorf("%w: %v has no public key", ErrPurpose, p.alg)
}

// eccPublic builds an *ecdsa.PublicKey from TPM coordinates, which the TPM
// may send without leading zeros; the point must lie on the curve.
func eccPublic(alg Algorithm, x, y []byte) (*ecdsa.PublicKey, error) {
	curve, size := elliptic.P256(), 32
	if alg == ECCP384 {
		curve, size = elliptic.P384(), 48
	}
	if len(x) > size || len(y) > size {
		return nil, fmt.Errorf("%w: ECC coordinate too long", ErrBadBlob)
	}
	enc := make([]byte, 1+2*size)
	enc[0] = 4
	copy(enc[1+size-len(x):1+size], x)
	copy(enc[1+2*size-len(y):], y)
	pk, err := ecdsa.ParseUncompressedPublicKey(curve, enc)
	if err != nil {
		return nil, fmt.Errorf("%w: ECC point: %v", ErrBadBlob, err)
	}
	return pk, nil
}

// PublicKey parses the public key from a blob without touching the TPM.
func PublicKey(b *Blob) (crypto.PublicKey, error) {
	p, err := parseBlob(b)
	if err != nil {
		return nil, err
	}
	return p.publicKey()
}
