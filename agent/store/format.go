package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Versions of the record file format (docs/STORE.md). Create and Update write
// recordVersion; decode reads every version from recordV1 on, since only
// Update rewrites a record: one written by an older build is read as it is,
// for as long as it exists. A newer version than this build knows is
// ErrUnsupportedRecord.
const (
	recordV1      = 1 // no kind: the algorithm tells a sealed secret from a key
	recordVersion = 2 // adds the kind, covered by the MAC
)

// maxRecordSize caps what is read from a record file. A record is about
// 1 KiB; anything near this is not one of ours.
const maxRecordSize = 64 << 10

// maxKindLen caps a kind read from a file before the MAC sees it, so that
// its one-byte length prefix in the MAC input is exact.
const maxKindLen = 64

// recordFile is the outer CBOR map of DIR/keys/<uid>/<alias>.key. Body holds
// the deterministic CBOR encoding of a recordBody; the MAC covers those exact
// bytes, the version and the kind, so the body is authenticated before it is
// parsed.
type recordFile struct {
	Version uint64 `cbor:"version"`
	Kind    Kind   `cbor:"kind,omitempty"` // since version 2
	Body    []byte `cbor:"record"`
	MAC     []byte `cbor:"mac"`
}

// recordBody is the description and the TPM blobs, the body of every kind so
// far. Key names follow the wire's KeyInfo so that an admin reading a record
// with a CBOR tool recognises them. The fields of kind symmetric are all
// omitempty, so that the bodies of kinds key and sealed are the bytes they
// always were; a symmetric body leaves the record-level blob empty.
type recordBody struct {
	Alias      string   `cbor:"alias"`
	KeyID      []byte   `cbor:"key_id"`
	OwnerUID   uint32   `cbor:"owner_uid"`
	Algorithm  string   `cbor:"algorithm"`
	Purposes   []string `cbor:"purposes,omitempty"`
	HasPIN     bool     `cbor:"has_pin,omitempty"`
	PINScheme  uint8    `cbor:"pin_scheme,omitempty"` // since version 2; absent: PINRaw
	PCRs       []uint   `cbor:"pcrs,omitempty"`
	Created    int64    `cbor:"created"` // Unix seconds
	PublicKey  []byte   `cbor:"public_key,omitempty"`
	TPMPublic  []byte   `cbor:"tpm_public"`
	TPMPrivate []byte   `cbor:"tpm_private"`
	SRKName    []byte   `cbor:"srk_name"`

	Versions             []versionBody `cbor:"versions,omitempty"`               // kind symmetric
	MinDecryptionVersion uint32        `cbor:"min_decryption_version,omitempty"` // kind symmetric
	RotationPeriod       int64         `cbor:"rotation_period,omitempty"`        // kind symmetric; seconds

	Origin   string   `cbor:"origin,omitempty"`    // absent: generated
	ExportTo []byte   `cbor:"export_to,omitempty"` // the SRK Name the key may be exported to
	SSH      *sshBody `cbor:"ssh,omitempty"`       // kind key: the ssh-agent marking (ssh.go)
}

// versionBody is one version of a symmetric key.
type versionBody struct {
	Number     uint32 `cbor:"number"`
	Created    int64  `cbor:"created"` // Unix seconds
	Disabled   bool   `cbor:"disabled,omitempty"`
	Messages   uint64 `cbor:"messages,omitempty"` // aes-256-gcm: messages reserved so far
	TPMPublic  []byte `cbor:"tpm_public"`
	TPMPrivate []byte `cbor:"tpm_private"`
	SRKName    []byte `cbor:"srk_name"`
}

// recordCodec encodes and decodes record files. Its modes are immutable and
// safe for concurrent use.
type recordCodec struct {
	enc cbor.EncMode
	dec cbor.DecMode // strict: unknown fields are an error
	// peek reads only the version, ignoring fields a newer format may add,
	// so that such a file is told apart from a damaged one.
	peek cbor.DecMode
}

func newRecordCodec() (recordCodec, error) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return recordCodec{}, fmt.Errorf("cbor.EncMode: %w", err)
	}
	opts := cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		MaxNestedLevels:  4,
		MaxArrayElements: 64,
		MaxMapPairs:      32,
	}
	peek, err := opts.DecMode()
	if err != nil {
		return recordCodec{}, fmt.Errorf("cbor.DecMode: %w", err)
	}
	opts.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
	dec, err := opts.DecMode()
	if err != nil {
		return recordCodec{}, fmt.Errorf("cbor.DecMode: %w", err)
	}
	return recordCodec{enc: enc, dec: dec, peek: peek}, nil
}

// encode returns the file contents for r in the current version, MACed
// under key. A record that decode would refuse is ErrInvalidRecord.
func (c recordCodec) encode(key *secretKey, r *Record) ([]byte, error) {
	if err := validateVersions(r); err != nil {
		return nil, err
	}
	if err := validateSSH(r); err != nil {
		return nil, err
	}
	body, err := c.enc.Marshal(bodyOf(r))
	if err != nil {
		return nil, fmt.Errorf("cbor.Marshal record: %w", err)
	}
	kind := r.Kind()
	f := recordFile{Version: recordVersion, Kind: kind, Body: body,
		MAC: recordMAC(key, recordVersion, kind, r.OwnerUID, r.Alias, body)}
	b, err := c.enc.Marshal(&f)
	if err != nil {
		return nil, fmt.Errorf("cbor.Marshal record file: %w", err)
	}
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalidRecord, len(b), maxRecordSize)
	}
	return b, nil
}

// decode verifies and parses the file found at keys/<uid>/<alias>.key, of
// any version this build reads. The MAC binds uid and alias, so a record
// moved to another name fails it; the body's own uid and alias are checked
// too. A version or kind this build does not know is ErrUnsupportedRecord.
func (c recordCodec) decode(key *secretKey, uid uint32, alias string, data []byte) (*Record, error) {
	f, err := c.decodeFile(data)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(f.MAC, recordMAC(key, f.Version, f.Kind, uid, alias, f.Body)) {
		return nil, errRecordMAC
	}
	if f.Version > recordV1 && f.Kind != KindKey && f.Kind != KindSealed && f.Kind != KindSymmetric {
		return nil, fmt.Errorf("record kind %q: %w", f.Kind, ErrUnsupportedRecord)
	}
	r, err := c.decodeBody(f.Body)
	if err != nil {
		return nil, err
	}
	if r.OwnerUID != uid || r.Alias != alias {
		return nil, fmt.Errorf("record names uid %d alias %q, found as uid %d alias %q", r.OwnerUID, r.Alias, uid, alias)
	}
	if f.Version > recordV1 && f.Kind != r.Kind() {
		return nil, fmt.Errorf("record of kind %q holds algorithm %q", f.Kind, r.Algorithm)
	}
	if f.Version == recordV1 && r.Kind() == KindSymmetric {
		return nil, errV1Symmetric
	}
	if err := validateVersions(r); err != nil {
		return nil, err
	}
	if err := validateSSH(r); err != nil {
		return nil, err
	}
	return r, nil
}

// decodeFile parses the outer map, after checking the version alone.
func (c recordCodec) decodeFile(data []byte) (*recordFile, error) {
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("record of %d bytes exceeds %d", len(data), maxRecordSize)
	}
	var v struct {
		Version uint64 `cbor:"version"`
	}
	if err := c.peek.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("cbor.Unmarshal record file: %w", err)
	}
	switch {
	case v.Version > recordVersion:
		return nil, fmt.Errorf("record version %d, this build reads %d to %d: %w",
			v.Version, recordV1, recordVersion, ErrUnsupportedRecord)
	case v.Version < recordV1:
		return nil, fmt.Errorf("record version %d, want %d to %d", v.Version, recordV1, recordVersion)
	}
	var f recordFile
	if err := c.dec.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cbor.Unmarshal record file: %w", err)
	}
	switch {
	case f.Version == recordV1 && f.Kind != "":
		return nil, fmt.Errorf("record version 1 with a kind")
	case f.Version > recordV1 && (f.Kind == "" || len(f.Kind) > maxKindLen):
		return nil, fmt.Errorf("record version %d with a kind of %d bytes", f.Version, len(f.Kind))
	}
	return &f, nil
}

func (c recordCodec) decodeBody(body []byte) (*Record, error) {
	var b recordBody
	if err := c.dec.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("cbor.Unmarshal record: %w", err)
	}
	if len(b.KeyID) != len(Record{}.KeyID) {
		return nil, fmt.Errorf("record key_id of %d bytes, want 16", len(b.KeyID))
	}
	r := &Record{
		Alias:     b.Alias,
		OwnerUID:  b.OwnerUID,
		Algorithm: b.Algorithm,
		Purposes:  b.Purposes,
		HasPIN:    b.HasPIN,
		PINScheme: PINScheme(b.PINScheme),
		PCRs:      b.PCRs,
		Created:   time.Unix(b.Created, 0).UTC(),
		PublicDER: b.PublicKey,
		Blob:      tpm.Blob{Public: b.TPMPublic, Private: b.TPMPrivate, ParentName: b.SRKName},

		MinDecryptionVersion: b.MinDecryptionVersion,
		Origin:               b.Origin,
		ExportTo:             b.ExportTo,
	}
	if b.Origin != "" && b.Origin != OriginImported && b.Origin != OriginImportedWrapped {
		return nil, fmt.Errorf("record origin %q", b.Origin)
	}
	copy(r.KeyID[:], b.KeyID)
	if b.RotationPeriod < 0 || b.RotationPeriod > int64(maxRotationPeriod/time.Second) {
		return nil, fmt.Errorf("record rotation_period %d out of range", b.RotationPeriod)
	}
	r.RotationPeriod = time.Duration(b.RotationPeriod) * time.Second
	ssh, err := sshMarkingOf(b.SSH)
	if err != nil {
		return nil, err
	}
	r.SSH = ssh
	if b.Versions != nil {
		r.Versions = make([]KeyVersion, len(b.Versions))
		for i, v := range b.Versions {
			r.Versions[i] = KeyVersion{Number: v.Number, Created: time.Unix(v.Created, 0).UTC(), Disabled: v.Disabled,
				Messages: v.Messages,
				Blob:     tpm.Blob{Public: v.TPMPublic, Private: v.TPMPrivate, ParentName: v.SRKName}}
		}
	}
	return r, nil
}

func bodyOf(r *Record) *recordBody {
	return &recordBody{
		Alias:      r.Alias,
		KeyID:      r.KeyID[:],
		OwnerUID:   r.OwnerUID,
		Algorithm:  r.Algorithm,
		Purposes:   r.Purposes,
		HasPIN:     r.HasPIN,
		PINScheme:  uint8(r.PINScheme),
		PCRs:       r.PCRs,
		Created:    r.Created.Unix(),
		PublicKey:  r.PublicDER,
		TPMPublic:  r.Blob.Public,
		TPMPrivate: r.Blob.Private,
		SRKName:    r.Blob.ParentName,

		Versions:             versionsOf(r),
		MinDecryptionVersion: r.MinDecryptionVersion,
		RotationPeriod:       int64(r.RotationPeriod / time.Second),
		Origin:               r.Origin,
		ExportTo:             r.ExportTo,
		SSH:                  sshBodyOf(r),
	}
}

func versionsOf(r *Record) []versionBody {
	if r.Versions == nil {
		return nil
	}
	vs := make([]versionBody, len(r.Versions))
	for i, v := range r.Versions {
		vs[i] = versionBody{Number: v.Number, Created: v.Created.Unix(), Disabled: v.Disabled, Messages: v.Messages,
			TPMPublic: v.Blob.Public, TPMPrivate: v.Blob.Private, SRKName: v.Blob.ParentName}
	}
	return vs
}

// recordMAC is HMAC-SHA256 over a domain string naming the format version,
// the kind (from version 2 on), the owner uid and alias the record is stored
// under, and the body. uid and alias come from the path, not from the body,
// so copying a file to another name breaks the MAC; the version and kind are
// covered, so a record cannot be replayed under another format or kind.
// Version 1's input is exactly what version-1 builds MACed.
func recordMAC(key *secretKey, version uint64, kind Kind, uid uint32, alias string, body []byte) []byte {
	m := hmac.New(sha256.New, key.b)
	m.Write([]byte("tpmkeyd record v" + strconv.FormatUint(version, 10) + "\x00"))
	if version > recordV1 {
		m.Write([]byte{byte(len(kind))}) // decodeFile caps it at maxKindLen
		m.Write([]byte(kind))
	}
	var hdr [4 + 2]byte
	binary.BigEndian.PutUint32(hdr[:4], uid)
	binary.BigEndian.PutUint16(hdr[4:], uint16(len(alias))) // ValidAlias caps it at 128
	m.Write(hdr[:])
	m.Write([]byte(alias))
	m.Write(body)
	return m.Sum(nil)
}
