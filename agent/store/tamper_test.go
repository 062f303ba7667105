package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStoreRefusesTamperedRecord flips each byte of a record in turn: every
// edit must be refused, and logged.
func TestStoreRefusesTamperedRecord(t *testing.T) {
	s, dir, logs := newTestStore(t)
	if err := s.Create(testRecord(1000, "k"), 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	path := filepath.Join(dir, "keys", "1000", "k.key")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range orig {
		for _, mask := range []byte{0x01, 0x80} {
			b := bytes.Clone(orig)
			b[i] ^= mask
			writeOver(t, path, b)
			s.DropCaches()
			if r, err := s.Get(1000, "k"); !errors.Is(err, ErrKeyInvalidated) {
				t.Fatalf("Get after flipping byte %d with %#x = %v, %v, want ErrKeyInvalidated", i, mask, r, err)
			}
		}
	}
	if got := logs.String(); !strings.Contains(got, "level=WARN") || !strings.Contains(got, "uid=1000 alias=k path="+path) {
		t.Errorf("log = %.300q..., want warnings naming uid, alias and path", got)
	}
	writeOver(t, path, orig)
	s.DropCaches()
	if _, err := s.Get(1000, "k"); err != nil {
		t.Errorf("Get of the restored record = %v, want nil", err)
	}
}

func writeOver(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStoreRefusesMovedRecord puts a valid record of uid 1000 alias "k"
// where another key should be.
func TestStoreRefusesMovedRecord(t *testing.T) {
	tests := []struct {
		name  string
		uid   uint32
		alias string
		place func(t *testing.T, src, dst string)
	}{
		{"copied-to-other-alias", 1000, "other", copyFile},
		{"copied-to-other-uid", 1001, "k", copyFile},
		{"copied-to-root", 0, "k", copyFile},
		{"symlink-to-record", 1000, "link", func(t *testing.T, src, dst string) {
			if err := os.Symlink(src, dst); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", 1000, "short", func(t *testing.T, src, dst string) {
			b, _ := os.ReadFile(src)
			writeOver(t, dst, b[:len(b)/2])
		}},
		{"empty", 1000, "empty", func(t *testing.T, _, dst string) { writeOver(t, dst, nil) }},
		{"oversized", 1000, "big", func(t *testing.T, src, dst string) {
			b, _ := os.ReadFile(src)
			writeOver(t, dst, append(b, make([]byte, maxRecordSize)...))
		}},
		{"directory", 1000, "dir", func(t *testing.T, _, dst string) {
			if err := os.Mkdir(dst, 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newTestStore(t)
			if err := s.Create(testRecord(1000, "k"), 0); err != nil {
				t.Fatalf("Create = %v", err)
			}
			src := filepath.Join(dir, "keys", "1000", "k.key")
			dstDir := filepath.Join(dir, "keys", itoa(tt.uid))
			os.MkdirAll(dstDir, 0o700)
			tt.place(t, src, filepath.Join(dstDir, tt.alias+".key"))
			if r, err := s.Get(tt.uid, tt.alias); !errors.Is(err, ErrKeyInvalidated) {
				t.Errorf("Get(%d, %q) = %v, %v, want ErrKeyInvalidated", tt.uid, tt.alias, r, err)
			}
			// List skips it; Delete removes it.
			recs, _, err := s.List(tt.uid, "", 10)
			if err != nil || containsAlias(recs, tt.alias) {
				t.Errorf("List(%d) = %d records, %v, want %q skipped", tt.uid, len(recs), err, tt.alias)
			}
			if tt.name == "directory" {
				return
			}
			if r, err := s.Delete(tt.uid, tt.alias); err != nil || r.Alias != tt.alias || r.Blob.Private != nil {
				t.Errorf("Delete(%d, %q) = %+v, %v, want a stub record", tt.uid, tt.alias, r, err)
			}
			if _, err := s.Get(1000, "k"); err != nil {
				t.Errorf("Get of the original = %v, want nil", err)
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	writeOver(t, dst, b)
}

func itoa(u uint32) string { return strconv.FormatUint(uint64(u), 10) }
