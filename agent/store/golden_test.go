package store

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// goldenRecords are the records in testdata/v<N>/keys/1000 for every format
// version N, under testMACKey. testdata/v1 was written by the store as it
// was before records had a kind; every later build must read those bytes.
func goldenRecords() []*Record {
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

// TestGoldenRecords reads records in the exact bytes each format version
// wrote (testdata/v<N>, frozen: never regenerate them), and checks that
// the current version still encodes to its golden bytes.
func TestGoldenRecords(t *testing.T) {
	c, _ := newRecordCodec()
	key, _ := newSecretKey(testMACKey())
	wantKinds := map[string]Kind{"ec-key": KindKey, "db-password": KindSealed}
	for _, version := range []int{recordV1, recordVersion} {
		dir := copyTree(t, "testdata/v"+strconv.Itoa(version))
		s, _ := openTestStore(t, dir)
		for _, want := range goldenRecords() {
			t.Run(fmt.Sprintf("v%d-%s", version, want.Alias), func(t *testing.T) {
				path := filepath.Join(dir, "keys", "1000", want.Alias+".key")
				before, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				got, err := s.Get(1000, want.Alias)
				if err != nil || !equalRecords(got, want) {
					t.Fatalf("Get(1000, %q) = %+v, %v, want %+v", want.Alias, got, err, want)
				}
				if k := got.Kind(); k != wantKinds[want.Alias] {
					t.Errorf("Get(1000, %q).Kind() = %q, want %q", want.Alias, k, wantKinds[want.Alias])
				}
				if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
					t.Errorf("Get rewrote %s", path)
				}
				if version != recordVersion {
					return
				}
				if enc, err := c.encode(key, want); err != nil || !bytes.Equal(enc, before) {
					t.Errorf("encode(%q) = %x, %v, want the golden %x", want.Alias, enc, err, before)
				}
			})
		}
		recs, next, err := s.List(1000, "", 10)
		if err != nil || next != "" || len(recs) != 2 {
			t.Errorf("v%d: List(1000) = %d records, %q, %v, want 2", version, len(recs), next, err)
		}
	}
}
