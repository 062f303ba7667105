package store

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// goldenV1 are the records in testdata/v1/keys/1000, written by the store as
// it was before records had a kind (format version 1), under testMACKey.
// Their bytes must stay readable by every later build.
func goldenV1() []*Record {
	ec := testRecord(1000, "ec-key")
	ec.HasPIN = true
	sealed := &Record{Alias: "db-password", OwnerUID: 1000, Algorithm: "sealed",
		Created: time.Unix(1700000001, 0).UTC(), PCRs: []uint{7}, Blob: testRecord(1000, "x").Blob}
	copy(sealed.KeyID[:], "sealed-key-id-16")
	return []*Record{ec, sealed}
}

// copyTree copies testdata's src into a fresh state dir with the store's
// modes (git keeps none).
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestReadsVersion1Records(t *testing.T) {
	dir := copyTree(t, "testdata/v1")
	s, _ := openTestStore(t, dir)
	for _, want := range goldenV1() {
		t.Run(want.Alias, func(t *testing.T) {
			path := filepath.Join(dir, "keys", "1000", want.Alias+".key")
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(1000, want.Alias)
			if err != nil || !equalRecords(got, want) {
				t.Fatalf("Get(1000, %q) = %+v, %v, want %+v", want.Alias, got, err, want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
				t.Errorf("Get rewrote %s", path)
			}
		})
	}
	recs, next, err := s.List(1000, "", 10)
	if err != nil || next != "" || len(recs) != 2 {
		t.Errorf("List(1000) = %d records, %q, %v, want 2", len(recs), next, err)
	}
}
