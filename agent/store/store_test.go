package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestStoreRoundTrip(t *testing.T) {
	s, dir, _ := newTestStore(t)
	tests := []struct {
		name string
		rec  *Record
	}{
		{"ec-key", testRecord(1000, "web-tls")},
		{"sealed-no-public-key", func() *Record {
			r := testRecord(1000, "db.password")
			r.Algorithm, r.Purposes, r.PCRs, r.PublicDER, r.HasPIN = "sealed", nil, nil, nil, true
			return r
		}()},
		{"root-key-max-alias", testRecord(0, strings.Repeat("a", MaxAliasLen))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid, alias := tt.rec.OwnerUID, tt.rec.Alias
			if err := s.Create(tt.rec, 0); err != nil {
				t.Fatalf("Create(%q) = %v, want nil", alias, err)
			}
			got, err := s.Get(uid, alias)
			if err != nil || !equalRecords(got, tt.rec) {
				t.Fatalf("Get(%d, %q) = %+v, %v, want %+v", uid, alias, got, err, tt.rec)
			}
			// A second store on the same directory reads the record from disk.
			s2, _ := openTestStore(t, dir)
			got, err = s2.Get(uid, alias)
			if err != nil || !equalRecords(got, tt.rec) {
				t.Fatalf("fresh Get(%d, %q) = %+v, %v, want %+v", uid, alias, got, err, tt.rec)
			}
			recs, next, err := s.List(uid, "", 10)
			if err != nil || next != "" || !containsAlias(recs, alias) {
				t.Fatalf("List(%d) = %d records, %q, %v, want %q listed", uid, len(recs), next, err, alias)
			}
			del, err := s.Delete(uid, alias)
			if err != nil || !equalRecords(del, tt.rec) {
				t.Fatalf("Delete(%d, %q) = %+v, %v, want the record", uid, alias, del, err)
			}
			if _, err := s.Get(uid, alias); !errors.Is(err, ErrKeyNotFound) {
				t.Errorf("Get after Delete = %v, want ErrKeyNotFound", err)
			}
			s2.DropCaches() // s2 cached the record; it sees the delete only now
			if _, err := s2.Get(uid, alias); !errors.Is(err, ErrKeyNotFound) {
				t.Errorf("Get after Delete and DropCaches = %v, want ErrKeyNotFound", err)
			}
			if _, err := s.Delete(uid, alias); !errors.Is(err, ErrKeyNotFound) {
				t.Errorf("second Delete = %v, want ErrKeyNotFound", err)
			}
		})
	}
}

func containsAlias(recs []*Record, alias string) bool {
	for _, r := range recs {
		if r.Alias == alias {
			return true
		}
	}
	return false
}

func TestStoreCreateErrors(t *testing.T) {
	tests := []struct {
		name    string
		setup   []string // aliases created first, for uid 1000
		alias   string
		maxKeys int
		want    error
	}{
		{"duplicate", []string{"a"}, "a", 0, ErrKeyExists},
		{"duplicate-at-quota", []string{"a", "b"}, "a", 2, ErrKeyExists},
		{"quota-reached", []string{"a", "b"}, "c", 2, ErrQuotaExceeded},
		{"below-quota", []string{"a"}, "b", 2, nil},
		{"unlimited", []string{"a", "b", "c"}, "d", 0, nil},
		{"invalid-alias", nil, "../x", 0, ErrInvalidAlias},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newTestStore(t)
			for _, a := range tt.setup {
				if err := s.Create(testRecord(1000, a), 0); err != nil {
					t.Fatalf("Create(%q) = %v", a, err)
				}
			}
			err := s.Create(testRecord(1000, tt.alias), tt.maxKeys)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("Create(%q, %d) = %v, want %v", tt.alias, tt.maxKeys, err, tt.want)
			}
			// Another uid has its own namespace and quota.
			if err := s.Create(testRecord(1001, "a"), 1); err != nil {
				t.Errorf("Create(uid 1001, a) = %v, want nil", err)
			}
		})
	}
}

func TestStoreConcurrentCreate(t *testing.T) {
	tests := []struct {
		name   string
		stores int // stores sharing the directory: 1 tests the per-uid lock, 2 the link
	}{
		{"one-store", 1},
		{"two-stores-same-dir", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newTestStore(t)
			stores := []*Store{s}
			for len(stores) < tt.stores {
				s2, _ := openTestStore(t, dir)
				stores = append(stores, s2)
			}
			const n = 16
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { errs[i] = stores[i%len(stores)].Create(testRecord(1000, "race"), 0) })
			}
			wg.Wait()
			created := 0
			for i, err := range errs {
				switch {
				case err == nil:
					created++
				case !errors.Is(err, ErrKeyExists):
					t.Errorf("Create #%d = %v, want nil or ErrKeyExists", i, err)
				}
			}
			if created != 1 {
				t.Errorf("concurrent Create of one alias succeeded %d times, want 1", created)
			}
			if n, err := s.Count(1000); n != 1 || err != nil {
				t.Errorf("Count(1000) = %d, %v, want 1", n, err)
			}
			assertNoTempFiles(t, dir)
		})
	}
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			t.Errorf("temporary file %s left behind", path)
		}
		return nil
	})
}

func TestStoreInvalidAlias(t *testing.T) {
	tests := []struct {
		name  string
		alias string
	}{
		{"empty", ""},
		{"129-bytes", strings.Repeat("a", MaxAliasLen+1)},
		{"parent-dir", "../x"},
		{"dot-dot", ".."},
		{"dot", "."},
		{"hidden", ".hidden"},
		{"slash", "a/b"},
		{"space", "a b"},
		{"non-ascii", "clé"},
		{"nul", "a\x00b"},
		{"newline", "a\nb"},
		{"backslash", `a\b`},
		{"tmp-prefix", tempPrefix + "1"},
	}
	s, _, _ := newTestStore(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ValidAlias(tt.alias) {
				t.Errorf("ValidAlias(%q) = true, want false", tt.alias)
			}
			if _, err := s.Get(1000, tt.alias); !errors.Is(err, ErrInvalidAlias) {
				t.Errorf("Get(%q) = %v, want ErrInvalidAlias", tt.alias, err)
			}
			if err := s.Create(testRecord(1000, tt.alias), 0); !errors.Is(err, ErrInvalidAlias) {
				t.Errorf("Create(%q) = %v, want ErrInvalidAlias", tt.alias, err)
			}
			if _, err := s.Delete(1000, tt.alias); !errors.Is(err, ErrInvalidAlias) {
				t.Errorf("Delete(%q) = %v, want ErrInvalidAlias", tt.alias, err)
			}
		})
	}
}

func TestValidAlias(t *testing.T) {
	tests := []struct {
		name  string
		alias string
	}{
		{"one-byte", "a"},
		{"128-bytes", strings.Repeat("Z", MaxAliasLen)},
		{"all-classes", "Web_TLS-2024.key"},
		{"inner-dots", "a..b"},
		{"trailing-dot", "a."},
		{"digits", "0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !ValidAlias(tt.alias) {
				t.Errorf("ValidAlias(%q) = false, want true", tt.alias)
			}
		})
	}
}

func TestStoreFileModes(t *testing.T) {
	old := syscall.Umask(0) // modes must not depend on the umask
	t.Cleanup(func() { syscall.Umask(old) })
	s, dir, _ := newTestStore(t)
	if err := s.Create(testRecord(1000, "k"), 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	tests := []struct {
		name string
		path string
		want os.FileMode
	}{
		{"keys-dir", filepath.Join(dir, "keys"), os.ModeDir | 0o700},
		{"uid-dir", filepath.Join(dir, "keys", "1000"), os.ModeDir | 0o700},
		{"record", filepath.Join(dir, "keys", "1000", "k.key"), 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := os.Lstat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != tt.want {
				t.Errorf("mode of %s = %v, want %v", tt.path, st.Mode(), tt.want)
			}
		})
	}
}

func TestStoreCount(t *testing.T) {
	s, dir, _ := newTestStore(t)
	writeRecordsFast(t, dir, 1000, 25)
	writeRecordsFast(t, dir, 0, 3)
	stale, fresh := filepath.Join(dir, "keys", "1000", tempPrefix+"stale"), filepath.Join(dir, "keys", "1000", tempPrefix+"fresh")
	os.WriteFile(stale, nil, 0o600)
	os.WriteFile(fresh, nil, 0o600)
	old := time.Now().Add(-2 * staleTempAge)
	os.Chtimes(stale, old, old)
	os.MkdirAll(filepath.Join(dir, "keys", "not-a-uid"), 0o700)
	steps := []struct {
		name string
		do   func() error
		want map[uint32]int
	}{
		{"from-disk", func() error { return nil }, map[uint32]int{0: 3, 1000: 25}},
		{"after-create", func() error { return s.Create(testRecord(2000, "x"), 0) }, map[uint32]int{0: 3, 1000: 25, 2000: 1}},
		{"after-delete", func() error { _, err := s.Delete(0, "k000001"); return err }, map[uint32]int{0: 2, 1000: 25, 2000: 1}},
		{"after-quota-refusal", func() error {
			if err := s.Create(testRecord(1000, "y"), 25); !errors.Is(err, ErrQuotaExceeded) {
				return fmt.Errorf("Create over quota = %v, want ErrQuotaExceeded", err)
			}
			return nil
		}, map[uint32]int{0: 2, 1000: 25, 2000: 1}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			for uid, want := range st.want {
				if n, err := s.Count(uid); n != want || err != nil {
					t.Errorf("Count(%d) = %d, %v, want %d", uid, n, err, want)
				}
			}
			all, err := s.CountAll()
			if err != nil || fmt.Sprint(all) != fmt.Sprint(st.want) {
				t.Errorf("CountAll() = %v, %v, want %v", all, err, st.want)
			}
		})
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale temporary file: Stat = %v, want it removed", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file: Stat = %v, want it kept (a write may be in flight)", err)
	}
}

// TestStoreConcurrentGetDelete races Gets against Create/Delete cycles: once
// all is quiet, the cache must agree with the disk.
func TestStoreConcurrentGetDelete(t *testing.T) {
	s, dir, _ := newTestStore(t)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for range 50 {
				if w == 0 {
					s.Create(testRecord(1000, "k"), 0)
					s.Delete(1000, "k")
				} else {
					s.Get(1000, "k")
					s.List(1000, "", 10)
				}
			}
		})
	}
	wg.Wait()
	_, statErr := os.Stat(filepath.Join(dir, "keys", "1000", "k.key"))
	_, getErr := s.Get(1000, "k")
	if !errors.Is(statErr, os.ErrNotExist) || !errors.Is(getErr, ErrKeyNotFound) {
		t.Errorf("after the race Stat = %v, Get = %v, want both not found", statErr, getErr)
	}
	if n, err := s.Count(1000); n != 0 || err != nil {
		t.Errorf("Count(1000) = %d, %v, want 0", n, err)
	}
}
