package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Record is one stored key: its description and its TPM-wrapped blob.
// It never holds private key material.
type Record struct {
	Alias     string
	KeyID     [16]byte
	OwnerUID  uint32
	Algorithm string   // wire name: "ec-p256", ..., "sealed"
	Purposes  []string // wire names: "sign", "decrypt", "agree"
	HasPIN    bool
	PCRs      []uint
	Created   time.Time // stored with one-second precision, in UTC
	PublicDER []byte    // SubjectPublicKeyInfo; nil for sealed
	Blob      tpm.Blob
}

// recordVersion is the on-disk format of a record file. It is part of the
// MAC's domain string, so a record cannot be replayed under another format.
const recordVersion = 1

// maxRecordSize caps what is read from a record file. A record is about
// 1 KiB; anything near this is not one of ours.
const maxRecordSize = 64 << 10

// recordFile is the outer CBOR map of DIR/keys/<uid>/<alias>.key. Body holds
// the deterministic CBOR encoding of a recordBody; the MAC covers those exact
// bytes, so the body is authenticated before it is parsed.
type recordFile struct {
	Version uint   `cbor:"version"`
	Body    []byte `cbor:"record"`
	MAC     []byte `cbor:"mac"`
}

// recordBody is the description and the TPM blobs. Key names follow the
// wire's KeyInfo so that an admin reading a record with a CBOR tool
// recognises them.
type recordBody struct {
	Alias      string   `cbor:"alias"`
	KeyID      []byte   `cbor:"key_id"`
	OwnerUID   uint32   `cbor:"owner_uid"`
	Algorithm  string   `cbor:"algorithm"`
	Purposes   []string `cbor:"purposes,omitempty"`
	HasPIN     bool     `cbor:"has_pin,omitempty"`
	PCRs       []uint   `cbor:"pcrs,omitempty"`
	Created    int64    `cbor:"created"` // Unix seconds
	PublicKey  []byte   `cbor:"public_key,omitempty"`
	TPMPublic  []byte   `cbor:"tpm_public"`
	TPMPrivate []byte   `cbor:"tpm_private"`
	SRKName    []byte   `cbor:"srk_name"`
}

// recordCodec encodes and decodes record files. Its modes are immutable and
// safe for concurrent use.
type recordCodec struct {
	enc cbor.EncMode
	dec cbor.DecMode
}

func newRecordCodec() (recordCodec, error) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return recordCodec{}, fmt.Errorf("cbor.EncMode: %w", err)
	}
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  64,
		MaxMapPairs:       32,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
	}.DecMode()
	if err != nil {
		return recordCodec{}, fmt.Errorf("cbor.DecMode: %w", err)
	}
	return recordCodec{enc: enc, dec: dec}, nil
}

// encode returns the file contents for r, MACed under key.
func (c recordCodec) encode(key *secretKey, r *Record) ([]byte, error) {
	body, err := c.enc.Marshal(bodyOf(r))
	if err != nil {
		return nil, fmt.Errorf("cbor.Marshal record: %w", err)
	}
	f := recordFile{Version: recordVersion, Body: body, MAC: recordMAC(key, r.OwnerUID, r.Alias, body)}
	b, err := c.enc.Marshal(&f)
	if err != nil {
		return nil, fmt.Errorf("cbor.Marshal record file: %w", err)
	}
	return b, nil
}

// decode verifies and parses the file found at keys/<uid>/<alias>.key. The
// MAC binds uid and alias, so a record moved to another name fails it; the
// body's own uid and alias are checked too.
func (c recordCodec) decode(key *secretKey, uid uint32, alias string, data []byte) (*Record, error) {
	if len(data) > maxRecordSize {
		return nil, fmt.Errorf("record of %d bytes exceeds %d", len(data), maxRecordSize)
	}
	var f recordFile
	if err := c.dec.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cbor.Unmarshal record file: %w", err)
	}
	if f.Version != recordVersion {
		return nil, fmt.Errorf("record version %d, want %d", f.Version, recordVersion)
	}
	if !hmac.Equal(f.MAC, recordMAC(key, uid, alias, f.Body)) {
		return nil, errRecordMAC
	}
	r, err := c.decodeBody(f.Body)
	if err != nil {
		return nil, err
	}
	if r.OwnerUID != uid || r.Alias != alias {
		return nil, fmt.Errorf("record names uid %d alias %q, found as uid %d alias %q", r.OwnerUID, r.Alias, uid, alias)
	}
	return r, nil
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
		PCRs:      b.PCRs,
		Created:   time.Unix(b.Created, 0).UTC(),
		PublicDER: b.PublicKey,
		Blob:      tpm.Blob{Public: b.TPMPublic, Private: b.TPMPrivate, ParentName: b.SRKName},
	}
	copy(r.KeyID[:], b.KeyID)
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
		PCRs:       r.PCRs,
		Created:    r.Created.Unix(),
		PublicKey:  r.PublicDER,
		TPMPublic:  r.Blob.Public,
		TPMPrivate: r.Blob.Private,
		SRKName:    r.Blob.ParentName,
	}
}

// recordMAC is HMAC-SHA256 over a domain string, the owner uid and alias the
// record is stored under, and the body. uid and alias come from the path,
// not from the body, so copying a file to another name breaks the MAC.
func recordMAC(key *secretKey, uid uint32, alias string, body []byte) []byte {
	m := hmac.New(sha256.New, key.b)
	var hdr [4 + 2]byte
	m.Write([]byte("tpmkeyd record v1\x00"))
	binary.BigEndian.PutUint32(hdr[:4], uid)
	binary.BigEndian.PutUint16(hdr[4:], uint16(len(alias))) // ValidAlias caps it at 128
	m.Write(hdr[:])
	m.Write([]byte(alias))
	m.Write(body)
	return m.Sum(nil)
}

// clone returns a deep copy of r, so the cache never shares slices with a
// caller.
func (r *Record) clone() *Record {
	c := *r
	c.Purposes = append([]string(nil), r.Purposes...)
	c.PCRs = append([]uint(nil), r.PCRs...)
	c.PublicDER = append([]byte(nil), r.PublicDER...)
	c.Blob = tpm.Blob{
		Public:     append([]byte(nil), r.Blob.Public...),
		Private:    append([]byte(nil), r.Blob.Private...),
		ParentName: append([]byte(nil), r.Blob.ParentName...),
	}
	return &c
}
