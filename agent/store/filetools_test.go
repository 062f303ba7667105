package store

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestStoreSeesFileToolChanges: admins back up, remove and restore records
// with ordinary file tools while the daemon runs; a cached record must
// follow the file at once, not at the next restart.
func TestStoreSeesFileToolChanges(t *testing.T) {
	s, dir, _ := newTestStore(t)
	for _, a := range []string{"k", "other"} {
		if err := s.Create(testRecord(1000, a), 0); err != nil {
			t.Fatalf("Create(%q) = %v", a, err)
		}
	}
	if _, err := s.Get(1000, "k"); err != nil { // now cached
		t.Fatalf("Get = %v", err)
	}
	path := filepath.Join(dir, "keys", "1000", "k.key")
	backup, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	otherData, err := os.ReadFile(filepath.Join(dir, "keys", "1000", "other.key"))
	if err != nil {
		t.Fatal(err)
	}

	steps := []struct {
		name      string
		change    func()
		wantErr   error
		wantCount int
	}{
		{"rm", func() { os.Remove(path) }, ErrKeyNotFound, 1},
		{"restore-backup", func() { os.WriteFile(path, backup, 0o600) }, nil, 2},
		{"replace-with-another-record", func() { writeOver(t, path, otherData) }, ErrKeyInvalidated, 2},
		{"restore-again", func() { writeOver(t, path, backup) }, nil, 2},
	}
	for _, st := range steps {
		st.change()
		_, err := s.Get(1000, "k")
		if !errors.Is(err, st.wantErr) {
			t.Errorf("after %s: Get = %v, want %v", st.name, err, st.wantErr)
		}
		if err == nil {
			if _, err := s.Get(1000, "k"); err != nil { // the cached path
				t.Errorf("after %s: second Get = %v, want nil", st.name, err)
			}
		}
		if n, err := s.Count(1000); err != nil || n != st.wantCount {
			t.Errorf("after %s: Count = %d, %v, want %d", st.name, n, err, st.wantCount)
		}
	}
}
