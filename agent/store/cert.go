package store

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// KindCertificate is a record holding an X.509 certificate for the key of
// the same alias: keys/<uid>/<alias>.cert next to <alias>.key
// (docs/STORE.md). It is public data; the MAC keeps it from being swapped
// or moved.
const KindCertificate Kind = "certificate"

// certSuffix ends a certificate record's file name. Builds before
// certificates never look at these files.
const certSuffix = ".cert"

// MaxCertificateSize bounds a certificate's DER.
const MaxCertificateSize = 16 << 10

// Certificate is a stored certificate: the key it belongs to (by alias and
// key id) and its DER.
type Certificate struct {
	Alias    string
	KeyID    [16]byte // the key's id when the certificate was stored
	OwnerUID uint32
	Created  time.Time // stored with one-second precision, in UTC
	DER      []byte
}

// certBody is the body of a record of kind certificate.
type certBody struct {
	Alias       string `cbor:"alias"`
	KeyID       []byte `cbor:"key_id"`
	OwnerUID    uint32 `cbor:"owner_uid"`
	Created     int64  `cbor:"created"`
	Certificate []byte `cbor:"certificate"`
}

func (c recordCodec) encodeCert(key *secretKey, crt *Certificate) ([]byte, error) {
	if len(crt.DER) == 0 || len(crt.DER) > MaxCertificateSize {
		return nil, fmt.Errorf("%w: certificate of %d bytes (1..%d)", ErrInvalidRecord, len(crt.DER), MaxCertificateSize)
	}
	body, err := c.enc.Marshal(&certBody{Alias: crt.Alias, KeyID: crt.KeyID[:], OwnerUID: crt.OwnerUID,
		Created: crt.Created.Unix(), Certificate: crt.DER})
	if err != nil {
		return nil, fmt.Errorf("cbor.Marshal certificate: %w", err)
	}
	f := recordFile{Version: recordVersion, Kind: KindCertificate, Body: body,
		MAC: recordMAC(key, recordVersion, KindCertificate, crt.OwnerUID, crt.Alias, body)}
	return c.enc.Marshal(&f)
}

func (c recordCodec) decodeCert(key *secretKey, uid uint32, alias string, data []byte) (*Certificate, error) {
	f, err := c.decodeFile(data)
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(f.MAC, recordMAC(key, f.Version, f.Kind, uid, alias, f.Body)) {
		return nil, errRecordMAC
	}
	if f.Kind != KindCertificate {
		return nil, fmt.Errorf("certificate file of kind %q", f.Kind)
	}
	var b certBody
	if err := c.dec.Unmarshal(f.Body, &b); err != nil {
		return nil, fmt.Errorf("cbor.Unmarshal certificate: %w", err)
	}
	if len(b.KeyID) != 16 || b.OwnerUID != uid || b.Alias != alias || len(b.Certificate) == 0 {
		return nil, fmt.Errorf("certificate record names uid %d alias %q (key id of %d bytes), found as uid %d alias %q",
			b.OwnerUID, b.Alias, len(b.KeyID), uid, alias)
	}
	crt := &Certificate{Alias: b.Alias, OwnerUID: b.OwnerUID, Created: time.Unix(b.Created, 0).UTC(), DER: b.Certificate}
	copy(crt.KeyID[:], b.KeyID)
	return crt, nil
}

// PutCertificate stores crt for the key of its alias, replacing any
// certificate stored before. The caller checks that the key exists and
// that the certificate is the key's.
func (s *Store) PutCertificate(crt *Certificate) error {
	if !ValidAlias(crt.Alias) {
		return ErrInvalidAlias
	}
	c := *crt
	c.Created = time.Unix(crt.Created.Unix(), 0).UTC()
	data, err := s.codec.encodeCert(s.key, &c)
	if err != nil {
		return fmt.Errorf("store.PutCertificate: %w", err)
	}
	d := s.dir(c.OwnerUID)
	d.mu.Lock()
	defer d.mu.Unlock()
	udir, err := s.openUID(c.OwnerUID, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrKeyNotFound
	case err != nil:
		return err
	}
	defer udir.Close()
	if err := replaceFile(udir, c.Alias+certSuffix, data); err != nil {
		return fmt.Errorf("store.PutCertificate: %w", err)
	}
	return nil
}

// Certificate reads the certificate stored for uid's key alias:
// ErrCertificateNotFound if there is none, ErrKeyInvalidated if it fails
// its integrity check (logged).
func (s *Store) Certificate(uid uint32, alias string) (*Certificate, error) {
	if !ValidAlias(alias) {
		return nil, ErrInvalidAlias
	}
	udir, err := s.openUID(uid, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrCertificateNotFound
	case err != nil:
		return nil, err
	}
	defer udir.Close()
	name := alias + certSuffix
	data, _, err := readSmallFileIn(udir, name, maxRecordSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrCertificateNotFound
	case errors.Is(err, errFileTooLarge), errors.Is(err, ErrUnsafePath):
		return nil, s.refuse(uid, alias, udir.Name()+"/"+name, err)
	case err != nil:
		return nil, fmt.Errorf("store: read certificate: %w", err)
	}
	crt, err := s.codec.decodeCert(s.key, uid, alias, data)
	if err != nil {
		return nil, s.refuse(uid, alias, udir.Name()+"/"+name, err)
	}
	return crt, nil
}

// DeleteCertificate removes the certificate stored for uid's key alias.
func (s *Store) DeleteCertificate(uid uint32, alias string) error {
	if !ValidAlias(alias) {
		return ErrInvalidAlias
	}
	d := s.dir(uid)
	d.mu.Lock()
	defer d.mu.Unlock()
	return s.deleteCertLocked(uid, alias)
}

// deleteCertLocked removes alias's certificate; the caller holds the uid
// directory's lock.
func (s *Store) deleteCertLocked(uid uint32, alias string) error {
	udir, err := s.openUID(uid, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrCertificateNotFound
	case err != nil:
		return err
	}
	defer udir.Close()
	err = removeFileIn(udir, alias+certSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return ErrCertificateNotFound
	}
	return err
}

// Certificates lists up to limit of uid's certificates after the cursor,
// in alias order; records that fail their check are skipped (and logged).
func (s *Store) Certificates(uid uint32, cursor string, limit int) ([]*Certificate, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	udir, err := s.openUID(uid, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, "", nil
	case err != nil:
		return nil, "", err
	}
	entries, err := readDirNames(udir)
	udir.Close()
	if err != nil {
		return nil, "", fmt.Errorf("store: list certificates: %w", err)
	}
	var names []string
	for _, e := range entries {
		if alias, ok := strings.CutSuffix(e, certSuffix); ok && ValidAlias(alias) && alias > after {
			names = append(names, alias)
		}
	}
	slices.Sort(names)
	more := len(names) > limit
	names = names[:min(limit, len(names))]
	var out []*Certificate
	for _, alias := range names {
		crt, err := s.Certificate(uid, alias)
		switch {
		case errors.Is(err, ErrKeyNotFound), errors.Is(err, ErrKeyInvalidated):
			continue
		case err != nil:
			return nil, "", err
		}
		out = append(out, crt)
	}
	next := ""
	if more {
		next = encodeCursor(names[len(names)-1])
	}
	return out, next, nil
}
