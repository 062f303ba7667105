package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestSymlinkedUIDDir is the reproduction from the outside audit: with
// keys/65533 → 0, uid 65533 deleted root's key. Every operation as uid 65533
// must now be refused, and root's records stay as they were.
func TestSymlinkedUIDDir(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, s *Store, keys string)
		// listed: uid 65533's listing was read before the swap. Listings
		// see a directory swapped behind the store's back at DropCaches
		// (done at every reload); until then they hold none of root's.
		listed bool
	}{
		{"relative-link", func(t *testing.T, _ *Store, keys string) {
			symlink(t, "0", filepath.Join(keys, "65533"))
		}, false},
		{"absolute-link", func(t *testing.T, _ *Store, keys string) {
			symlink(t, filepath.Join(keys, "0"), filepath.Join(keys, "65533"))
		}, false},
		{"root-records-cached", func(t *testing.T, s *Store, keys string) {
			for _, a := range []string{"k", "other"} {
				if _, err := s.Get(0, a); err != nil {
					t.Fatalf("Get(0, %q) = %v", a, err)
				}
			}
			symlink(t, "0", filepath.Join(keys, "65533"))
		}, false},
		{"swapped-after-own-record-cached", func(t *testing.T, s *Store, keys string) {
			if err := s.Create(testRecord(65533, "k"), 0); err != nil {
				t.Fatalf("Create(65533, k) = %v", err)
			}
			if _, err := s.Get(65533, "k"); err != nil {
				t.Fatalf("Get(65533, k) = %v", err)
			}
			if err := os.Rename(filepath.Join(keys, "65533"), filepath.Join(keys, "65533.old")); err != nil {
				t.Fatal(err)
			}
			symlink(t, "0", filepath.Join(keys, "65533"))
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, logs := newTestStore(t)
			keys := filepath.Join(dir, "keys")
			for _, a := range []string{"k", "other"} {
				if err := s.Create(testRecord(0, a), 0); err != nil {
					t.Fatalf("Create(0, %q) = %v", a, err)
				}
			}
			rootBefore := snapshot(t, filepath.Join(keys, "0"))
			tt.plant(t, s, keys)

			if r, err := s.Get(65533, "k"); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Get(65533, k) = %+v, %v, want ErrUnsafePath", r, err)
			}
			if err := s.Create(testRecord(65533, "planted"), 0); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Create(65533, planted) = %v, want ErrUnsafePath", err)
			}
			if r, err := s.Delete(65533, "k"); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Delete(65533, k) = %+v, %v, want ErrUnsafePath", r, err)
			}
			if tt.listed {
				if recs, _, err := s.List(65533, "", 10); len(recs) != 0 {
					t.Errorf("List(65533) from the listing read before = %d records, %v, want none", len(recs), err)
				}
				s.DropCaches()
			}
			if recs, _, err := s.List(65533, "", 10); !errors.Is(err, ErrUnsafePath) || len(recs) != 0 {
				t.Errorf("List(65533) = %d records, %v, want ErrUnsafePath", len(recs), err)
			}
			if n, err := s.Count(65533); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("Count(65533) = %d, %v, want ErrUnsafePath", n, err)
			}
			if got, err := s.CountAll(); err != nil || len(got) != 1 || got[0] != 2 {
				t.Errorf("CountAll = %v, %v, want map[0:2]", got, err)
			}

			if after := snapshot(t, filepath.Join(keys, "0")); after != rootBefore {
				t.Errorf("keys/0 after = %s, want %s", after, rootBefore)
			}
			for _, a := range []string{"k", "other"} {
				if _, err := s.Get(0, a); err != nil {
					t.Errorf("Get(0, %q) = %v, want root's record intact", a, err)
				}
			}
			if !strings.Contains(logs.String(), "key directory refused") || !strings.Contains(logs.String(), "uid=65533") {
				t.Errorf("log = %q, want the refusal of uid 65533's directory", logs.String())
			}
		})
	}
}

// TestSymlinkedOrSpecialRecord: a record file that is a symlink to another
// uid's record, or a FIFO, is refused without being followed or blocking;
// Delete removes the link, not its target.
func TestSymlinkedOrSpecialRecord(t *testing.T) {
	tests := []struct {
		name  string
		plant func(t *testing.T, path string)
	}{
		{"link-to-root-record", func(t *testing.T, path string) { symlink(t, "../0/k.key", path) }},
		{"fifo", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newTestStore(t)
			if err := s.Create(testRecord(0, "k"), 0); err != nil {
				t.Fatalf("Create(0, k) = %v", err)
			}
			udir := filepath.Join(dir, "keys", "65533")
			if err := os.Mkdir(udir, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.plant(t, filepath.Join(udir, "k.key"))
			if r, err := s.Get(65533, "k"); !errors.Is(err, ErrUnsafePath) || !errors.Is(err, ErrKeyInvalidated) {
				t.Errorf("Get(65533, k) = %+v, %v, want ErrUnsafePath (a kind of ErrKeyInvalidated)", r, err)
			}
			if r, err := s.Delete(65533, "k"); err != nil || r.Blob.Private != nil {
				t.Errorf("Delete(65533, k) = %+v, %v, want a stub record", r, err)
			}
			if _, err := os.Lstat(filepath.Join(udir, "k.key")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("after Delete, Lstat = %v, want it gone", err)
			}
			if _, err := s.Get(0, "k"); err != nil {
				t.Errorf("Get(0, k) = %v, want root's record intact", err)
			}
		})
	}
}

// TestSymlinkedKeysDir: a keys/ that is a symlink is refused when the store
// opens, and when it is planted under a running store.
func TestSymlinkedKeysDir(t *testing.T) {
	t.Run("at-open", func(t *testing.T) {
		dir, elsewhere := t.TempDir(), t.TempDir()
		symlink(t, elsewhere, filepath.Join(dir, "keys"))
		if s, err := Open(dir, testMACKey(), nil); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Open = %v, %v, want ErrUnsafePath", s, err)
		}
	})
	t.Run("while-running", func(t *testing.T) {
		s, dir, _ := newTestStore(t)
		keys := filepath.Join(dir, "keys")
		if err := s.Create(testRecord(0, "k"), 0); err != nil {
			t.Fatalf("Create(0, k) = %v", err)
		}
		if err := os.Rename(keys, keys+".old"); err != nil {
			t.Fatal(err)
		}
		symlink(t, keys+".old", keys)
		s.DropCaches()
		if r, err := s.Get(0, "k"); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Get(0, k) = %+v, %v, want ErrUnsafePath", r, err)
		}
		if err := s.Create(testRecord(0, "new"), 0); !errors.Is(err, ErrUnsafePath) {
			t.Errorf("Create(0, new) = %v, want ErrUnsafePath", err)
		}
	})
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes dir's entries and their contents' sizes and inodes.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		b.WriteString(e.Name() + ":" + itoa(uint32(st.Ino)) + ":" + itoa(uint32(fi.Size())) + " ")
	}
	return b.String()
}
