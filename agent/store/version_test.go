package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// craftedRecord is a record file made by hand, to put in a store what no
// build of this one writes.
type craftedRecord struct {
	version    any    // the file's version field; nil leaves it out
	kind       Kind   // "" leaves it out
	macVersion uint64 // the version and kind the MAC is computed for
	macKind    Kind
	rec        *Record
	extra      bool // adds a field no version so far has
}

func (cr craftedRecord) encode(t *testing.T) []byte {
	t.Helper()
	c, _ := newRecordCodec()
	key, _ := newSecretKey(testMACKey())
	body, err := c.enc.Marshal(bodyOf(cr.rec))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{"record": body,
		"mac": recordMAC(key, cr.macVersion, cr.macKind, cr.rec.OwnerUID, cr.rec.Alias, body)}
	if cr.version != nil {
		m["version"] = cr.version
	}
	if cr.kind != "" {
		m["kind"] = cr.kind
	}
	if cr.extra {
		m["signed_by"] = "a later tpmkeyd"
	}
	b, err := c.enc.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sealedRecord(uid uint32, alias string) *Record {
	r := testRecord(uid, alias)
	r.Algorithm, r.Purposes, r.PublicDER = "sealed", nil, nil
	return r
}

func TestRecordVersions(t *testing.T) {
	k := testRecord(1000, "k")
	tests := []struct {
		name string
		file craftedRecord
		want error // nil: read as k
	}{
		{"v1-as-older-builds-wrote", craftedRecord{version: 1, macVersion: 1, rec: k}, nil},
		{"v2-as-this-build-writes", craftedRecord{version: 2, kind: KindKey, macVersion: 2, macKind: KindKey, rec: k}, nil},
		{"newer-version", craftedRecord{version: 3, kind: KindKey, macVersion: 3, macKind: KindKey, rec: k, extra: true}, ErrUnsupportedRecord},
		{"far-newer-version", craftedRecord{version: uint64(1) << 40, rec: k, extra: true}, ErrUnsupportedRecord},
		{"unknown-kind", craftedRecord{version: 2, kind: "grant", macVersion: 2, macKind: "grant", rec: k}, ErrUnsupportedRecord},
		{"v2-relabelled-v1", craftedRecord{version: 1, macVersion: 2, macKind: KindKey, rec: k}, ErrKeyInvalidated},
		{"v1-relabelled-v2", craftedRecord{version: 2, kind: KindKey, macVersion: 1, rec: k}, ErrKeyInvalidated},
		{"sealed-relabelled-key", craftedRecord{version: 2, kind: KindKey, macVersion: 2, macKind: KindSealed, rec: sealedRecord(1000, "k")}, ErrKeyInvalidated},
		{"kind-contradicts-algorithm", craftedRecord{version: 2, kind: KindKey, macVersion: 2, macKind: KindKey, rec: sealedRecord(1000, "k")}, ErrKeyInvalidated},
		{"unknown-kind-bad-mac", craftedRecord{version: 2, kind: "grant", macVersion: 2, macKind: KindKey, rec: k}, ErrKeyInvalidated},
		{"v1-with-kind", craftedRecord{version: 1, kind: KindKey, macVersion: 1, rec: k}, ErrKeyInvalidated},
		{"v2-without-kind", craftedRecord{version: 2, macVersion: 2, rec: k}, ErrKeyInvalidated},
		{"v2-long-kind", craftedRecord{version: 2, kind: Kind(strings.Repeat("k", 300)), macVersion: 2, macKind: Kind(strings.Repeat("k", 300)), rec: k}, ErrKeyInvalidated},
		{"version-zero", craftedRecord{version: 0, macVersion: 0, rec: k}, ErrKeyInvalidated},
		{"version-missing", craftedRecord{macVersion: 1, rec: k}, ErrKeyInvalidated},
		{"version-negative", craftedRecord{version: -1, macVersion: 1, rec: k}, ErrKeyInvalidated},
		{"version-text", craftedRecord{version: "2", kind: KindKey, macVersion: 2, macKind: KindKey, rec: k}, ErrKeyInvalidated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, logs := newTestStore(t)
			path := filepath.Join(dir, "keys", "1000", "k.key")
			os.MkdirAll(filepath.Dir(path), 0o700)
			writeOver(t, path, tt.file.encode(t))
			r, err := s.Get(1000, "k")
			switch {
			case tt.want == nil:
				if err != nil || !equalRecords(r, tt.file.rec) {
					t.Fatalf("Get = %+v, %v, want %+v", r, err, tt.file.rec)
				}
				return
			case !errors.Is(err, tt.want):
				t.Fatalf("Get = %+v, %v, want %v", r, err, tt.want)
			case tt.want == ErrKeyInvalidated && errors.Is(err, ErrUnsupportedRecord):
				t.Fatalf("Get = %v, want ErrKeyInvalidated, not ErrUnsupportedRecord", err)
			}
			if !errors.Is(err, ErrKeyInvalidated) {
				t.Errorf("Get = %v, want it to match ErrKeyInvalidated too", err)
			}
			wantLog := "failed its integrity check"
			if tt.want == ErrUnsupportedRecord {
				wantLog = "written by a newer tpmkeyd"
			}
			if !strings.Contains(logs.String(), wantLog) {
				t.Errorf("log = %q, want %q", logs.String(), wantLog)
			}
			if recs, _, err := s.List(1000, "", 10); err != nil || len(recs) != 0 {
				t.Errorf("List = %d records, %v, want it skipped", len(recs), err)
			}
			if d, err := s.Delete(1000, "k"); err != nil || d.Blob.Private != nil {
				t.Errorf("Delete = %+v, %v, want a stub record", d, err)
			}
			if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Delete, Lstat = %v, want the file gone", err)
			}
		})
	}
}

// TestCreateWritesCurrentVersion: a new record carries this build's
// version and its kind.
func TestCreateWritesCurrentVersion(t *testing.T) {
	for _, r := range []*Record{testRecord(1000, "k"), sealedRecord(1000, "s")} {
		t.Run(string(r.Kind()), func(t *testing.T) {
			s, dir, _ := newTestStore(t)
			if err := s.Create(r, 0); err != nil {
				t.Fatalf("Create = %v", err)
			}
			data, err := os.ReadFile(filepath.Join(dir, "keys", "1000", r.Alias+".key"))
			if err != nil {
				t.Fatal(err)
			}
			c, _ := newRecordCodec()
			f, err := c.decodeFile(data)
			if err != nil || f.Version != recordVersion || f.Kind != r.Kind() {
				t.Errorf("decodeFile = %+v, %v, want version %d kind %q", f, err, recordVersion, r.Kind())
			}
		})
	}
}
