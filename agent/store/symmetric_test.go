package store

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/tpm"
)

var updateGolden = flag.Bool("update-symmetric-golden", false,
	"write testdata/v2-symmetric from symmetricGolden (only when adding it: golden files are frozen)")

// versionBlob is a plausible TPM keyedhash blob, distinct per version.
func versionBlob(n byte) tpm.Blob {
	return tpm.Blob{
		Public:     bytes.Repeat([]byte{0x10 + n}, 50),
		Private:    bytes.Repeat([]byte{0x20 + n}, 110),
		ParentName: bytes.Repeat([]byte{0x03}, 34),
	}
}

// symmetricRecord is an hmac-sha256 key with 3 versions, the second
// disabled.
func symmetricRecord(uid uint32, alias string) *Record {
	r := &Record{
		Alias:     alias,
		OwnerUID:  uid,
		Algorithm: AlgHMACSHA256,
		Purposes:  []string{"mac"},
		Created:   time.Unix(1700000000, 0).UTC(),
		Versions: []KeyVersion{
			{Number: 1, Created: time.Unix(1700000000, 0).UTC(), Blob: versionBlob(1)},
			{Number: 2, Created: time.Unix(1700086400, 0).UTC(), Disabled: true, Blob: versionBlob(2)},
			{Number: 3, Created: time.Unix(1700172800, 0).UTC(), Blob: versionBlob(3)},
		},
		MinDecryptionVersion: 1,
		RotationPeriod:       90 * 24 * time.Hour,
	}
	copy(r.KeyID[:], "symmetric-key-16")
	return r
}

// rotated is r with a version added and the oldest no longer decrypting.
func rotated(r *Record) *Record {
	r = r.clone()
	n := uint32(len(r.Versions) + 1)
	r.Versions = append(r.Versions, KeyVersion{Number: n, Created: time.Unix(1700259200, 0).UTC(), Blob: versionBlob(byte(n))})
	r.MinDecryptionVersion = 2
	return r
}

func TestSymmetricKind(t *testing.T) {
	for alg, want := range map[string]Kind{AlgAES256GCM: KindSymmetric, AlgHMACSHA256: KindSymmetric,
		"ec-p256": KindKey, "rsa-2048": KindKey, "sealed": KindSealed} {
		if got := (&Record{Algorithm: alg}).Kind(); got != want {
			t.Errorf("Record{Algorithm: %q}.Kind() = %q, want %q", alg, got, want)
		}
	}
}

func TestKeyVersionLookup(t *testing.T) {
	r := symmetricRecord(1000, "k")
	if v, ok := r.Version(2); !ok || v.Number != 2 || !v.Disabled {
		t.Errorf("Version(2) = %+v, %v, want the disabled version 2", v, ok)
	}
	if v, ok := r.Version(4); ok {
		t.Errorf("Version(4) = %+v, true, want false", v)
	}
	if v, ok := r.Newest(); !ok || v.Number != 3 {
		t.Errorf("Newest() = %+v, %v, want version 3", v, ok)
	}
	r.Versions[2].Disabled = true
	if v, ok := r.Newest(); !ok || v.Number != 1 {
		t.Errorf("Newest() with 2 and 3 disabled = %+v, %v, want version 1", v, ok)
	}
	if got := (&Record{}).MinDecryption(); got != 1 {
		t.Errorf("MinDecryption() of 0 = %d, want 1", got)
	}
}

func TestSymmetricCloneIsDeep(t *testing.T) {
	r := symmetricRecord(1000, "k")
	c := r.clone()
	c.Versions[0].Blob.Private[0] ^= 0xff
	c.Versions[1].Disabled = false
	if r.Versions[0].Blob.Private[0] != 0x21 || !r.Versions[1].Disabled {
		t.Errorf("clone shares Versions with the original")
	}
	if c := testRecord(1000, "k").clone(); c.Versions != nil {
		t.Errorf("clone of a key record has Versions %v, want nil", c.Versions)
	}
}

// TestSymmetricRoundTrip goes through every path a symmetric record takes:
// Create, Get, List, Update, and a restart of the store.
func TestSymmetricRoundTrip(t *testing.T) {
	s, dir, _ := newTestStore(t)
	want := symmetricRecord(1000, "mac-key")
	want.Versions[0].Created = want.Versions[0].Created.Add(300 * time.Millisecond) // stored in whole seconds
	if err := s.Create(want, 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	want = symmetricRecord(1000, "mac-key")
	check := func(s *Store, step string, want *Record) {
		t.Helper()
		s.DropCaches() // from disk, then from the cache
		for range 2 {
			if got, err := s.Get(1000, "mac-key"); err != nil || !equalRecords(got, want) {
				t.Fatalf("%s: Get = %+v, %v, want %+v", step, got, err, want)
			}
		}
		recs, _, err := s.List(1000, "", 10)
		if err != nil || len(recs) != 1 || !equalRecords(recs[0], want) {
			t.Fatalf("%s: List = %+v, %v, want [%+v]", step, recs, err, want)
		}
	}
	check(s, "after-create", want)
	want = rotated(want)
	if err := s.Update(want); err != nil {
		t.Fatalf("Update = %v", err)
	}
	if got, err := s.Get(1000, "mac-key"); err != nil || !equalRecords(got, want) {
		t.Fatalf("Get right after Update = %+v, %v, want %+v", got, err, want)
	}
	check(s, "after-update", want)
	s.Close()
	s2, _ := openTestStore(t, dir)
	check(s2, "after-restart", want)
	if n, err := s2.Count(1000); err != nil || n != 1 {
		t.Errorf("Count(1000) = %d, %v, want 1 (no temporary file left)", n, err)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "keys", "1000")); len(names) != 1 {
		t.Errorf("keys/1000 holds %d entries, want 1", len(names))
	}
}

// TestSymmetricValidation breaks each rule: Create refuses it with
// ErrInvalidRecord, and the same record found on disk with a valid MAC is
// ErrKeyInvalidated.
func TestSymmetricValidation(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(r *Record)
		valid bool
	}{
		{"valid", func(r *Record) {}, true},
		{"aes-256-gcm", func(r *Record) { r.Algorithm = AlgAES256GCM }, true},
		{"min-decryption-zero", func(r *Record) { r.MinDecryptionVersion = 0 }, true},
		{"min-decryption-newest", func(r *Record) { r.MinDecryptionVersion = 3 }, true},
		{"one-version", func(r *Record) { r.Versions = r.Versions[:1] }, true},
		{"no-rotation-period", func(r *Record) { r.RotationPeriod = 0 }, true},
		{"no-versions", func(r *Record) { r.Versions = nil }, false},
		{"empty-versions", func(r *Record) { r.Versions = []KeyVersion{} }, false},
		{"too-many-versions", func(r *Record) {
			r.Versions = nil
			for i := range MaxKeyVersions + 1 {
				r.Versions = append(r.Versions, KeyVersion{Number: uint32(i + 1), Blob: versionBlob(1)})
			}
		}, false},
		{"starts-at-zero", func(r *Record) {
			for i := range r.Versions {
				r.Versions[i].Number--
			}
		}, false},
		{"starts-at-two", func(r *Record) {
			for i := range r.Versions {
				r.Versions[i].Number++
			}
		}, false},
		{"gap", func(r *Record) { r.Versions[2].Number = 4 }, false},
		{"duplicate", func(r *Record) { r.Versions[2].Number = 2 }, false},
		{"decreasing", func(r *Record) { r.Versions[1], r.Versions[2] = r.Versions[2], r.Versions[1] }, false},
		{"all-disabled", func(r *Record) {
			for i := range r.Versions {
				r.Versions[i].Disabled = true
			}
		}, false},
		{"min-decryption-above-newest", func(r *Record) { r.MinDecryptionVersion = 4 }, false},
		{"min-decryption-above-newest-enabled", func(r *Record) {
			r.Versions[2].Disabled, r.MinDecryptionVersion = true, 2
		}, false},
		{"version-without-public", func(r *Record) { r.Versions[1].Blob.Public = nil }, false},
		{"version-without-private", func(r *Record) { r.Versions[1].Blob.Private = nil }, false},
		{"version-without-srk-name", func(r *Record) { r.Versions[1].Blob.ParentName = nil }, false},
		{"record-level-blob", func(r *Record) { r.Blob = versionBlob(9) }, false},
		{"negative-rotation-period", func(r *Record) { r.RotationPeriod = -time.Hour }, false},
		{"key-with-versions", func(r *Record) { r.Algorithm, r.Blob = "ec-p256", versionBlob(9) }, false},
		{"key-with-min-decryption", func(r *Record) {
			r.Algorithm, r.Blob, r.Versions = "ec-p256", versionBlob(9), nil
		}, false},
		{"sealed-with-rotation-period", func(r *Record) {
			r.Algorithm, r.Blob, r.Versions, r.MinDecryptionVersion = "sealed", versionBlob(9), nil, 0
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := symmetricRecord(1000, "k")
			tt.edit(r)
			s, dir, logs := newTestStore(t)
			err := s.Create(r, 0)
			if tt.valid {
				if err != nil {
					t.Fatalf("Create = %v, want nil", err)
				}
				if got, err := s.Get(1000, "k"); err != nil || !equalRecords(got, r) {
					t.Fatalf("Get = %+v, %v, want %+v", got, err, r)
				}
				return
			}
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Create = %v, want ErrInvalidRecord", err)
			}
			path := filepath.Join(dir, "keys", "1000", "k.key")
			os.MkdirAll(filepath.Dir(path), 0o700)
			writeOver(t, path, craftedRecord{version: 2, kind: r.Kind(), macVersion: 2, macKind: r.Kind(), rec: r}.encode(t))
			if got, err := s.Get(1000, "k"); !errors.Is(err, ErrKeyInvalidated) || errors.Is(err, ErrUnsupportedRecord) {
				t.Errorf("Get of it from disk = %+v, %v, want ErrKeyInvalidated", got, err)
			}
			if !bytes.Contains(logs.Bytes(), []byte("failed its integrity check")) {
				t.Errorf("log = %q, want the refusal", logs.String())
			}
		})
	}
}

// TestSymmetricRecordKinds: the kind on file must match the algorithm, and
// version 1, which predates symmetric keys, cannot hold one.
func TestSymmetricRecordKinds(t *testing.T) {
	r := symmetricRecord(1000, "k")
	tests := []struct {
		name string
		file craftedRecord
		want error
	}{
		{"v2-symmetric", craftedRecord{version: 2, kind: KindSymmetric, macVersion: 2, macKind: KindSymmetric, rec: r}, nil},
		{"v1-symmetric", craftedRecord{version: 1, macVersion: 1, rec: r}, ErrKeyInvalidated},
		{"symmetric-labelled-key", craftedRecord{version: 2, kind: KindKey, macVersion: 2, macKind: KindKey, rec: r}, ErrKeyInvalidated},
		{"key-labelled-symmetric", craftedRecord{version: 2, kind: KindSymmetric, macVersion: 2, macKind: KindSymmetric, rec: testRecord(1000, "k")}, ErrKeyInvalidated},
		{"symmetric-relabelled-key", craftedRecord{version: 2, kind: KindKey, macVersion: 2, macKind: KindSymmetric, rec: r}, ErrKeyInvalidated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newTestStore(t)
			path := filepath.Join(dir, "keys", "1000", "k.key")
			os.MkdirAll(filepath.Dir(path), 0o700)
			writeOver(t, path, tt.file.encode(t))
			got, err := s.Get(1000, "k")
			switch {
			case tt.want == nil && (err != nil || !equalRecords(got, r)):
				t.Errorf("Get = %+v, %v, want %+v", got, err, r)
			case tt.want != nil && (!errors.Is(err, tt.want) || errors.Is(err, ErrUnsupportedRecord)):
				t.Errorf("Get = %+v, %v, want %v", got, err, tt.want)
			}
		})
	}
}

// TestSymmetricTamperedVersion flips every byte of a symmetric record, and
// in particular each version's blobs: every edit is refused.
func TestSymmetricTamperedVersion(t *testing.T) {
	s, dir, _ := newTestStore(t)
	r := symmetricRecord(1000, "k")
	if err := s.Create(r, 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	path := filepath.Join(dir, "keys", "1000", "k.key")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range r.Versions {
		for _, part := range [][]byte{v.Blob.Public, v.Blob.Private} {
			if i := bytes.Index(orig, part); i < 0 {
				t.Fatalf("version %d's blob not found in the file", v.Number)
			}
		}
	}
	for i := range orig {
		b := bytes.Clone(orig)
		b[i] ^= 0x01
		writeOver(t, path, b)
		s.DropCaches()
		if got, err := s.Get(1000, "k"); !errors.Is(err, ErrKeyInvalidated) {
			t.Fatalf("Get after flipping byte %d = %+v, %v, want ErrKeyInvalidated", i, got, err)
		}
	}
	writeOver(t, path, orig)
	s.DropCaches()
	if _, err := s.Get(1000, "k"); err != nil {
		t.Errorf("Get of the restored record = %v, want nil", err)
	}
}

// symmetricGolden is the record in testdata/v2-symmetric/keys/1000, under
// testMACKey.
func symmetricGolden() *Record {
	r := symmetricRecord(1000, "mac-key")
	return r
}

// TestGoldenSymmetricRecord reads the symmetric record in the exact bytes
// this build first wrote (testdata/v2-symmetric, frozen like testdata/v<N>),
// and checks the encoder still produces them.
func TestGoldenSymmetricRecord(t *testing.T) {
	const src = "testdata/v2-symmetric"
	want := symmetricGolden()
	c, _ := newRecordCodec()
	key, _ := newSecretKey(testMACKey())
	enc, err := c.encode(key, want)
	if err != nil {
		t.Fatalf("encode = %v", err)
	}
	golden := filepath.Join(src, "keys", "1000", "mac-key.key")
	if *updateGolden {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, before) {
		t.Errorf("encode(mac-key) = %x, want the golden %x", enc, before)
	}
	s, _ := openTestStore(t, copyTree(t, src))
	got, err := s.Get(1000, "mac-key")
	if err != nil || !equalRecords(got, want) || got.Kind() != KindSymmetric {
		t.Fatalf("Get(1000, mac-key) = %+v, %v, want %+v of kind symmetric", got, err, want)
	}
}
