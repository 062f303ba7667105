package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestUpdateRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *Record)
		want error
	}{
		{"absent-alias", func(r *Record) { r.Alias = "other" }, ErrKeyNotFound},
		{"absent-uid", func(r *Record) { r.OwnerUID = 1001 }, ErrKeyNotFound},
		{"other-key-id", func(r *Record) { r.KeyID[0] ^= 1 }, ErrKeyIDMismatch},
		{"other-algorithm", func(r *Record) { r.Algorithm = AlgAES256GCM }, ErrInvalidRecord},
		{"invalid-versions", func(r *Record) { r.Versions[3].Number = 5 }, ErrInvalidRecord},
		{"invalid-alias", func(r *Record) { r.Alias = "../k" }, ErrInvalidAlias},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newTestStore(t)
			orig := symmetricRecord(1000, "k")
			if err := s.Create(orig, 0); err != nil {
				t.Fatalf("Create = %v", err)
			}
			path := filepath.Join(dir, "keys", "1000", "k.key")
			before, _ := os.ReadFile(path)
			r := rotated(orig)
			tt.edit(r)
			if err := s.Update(r); !errors.Is(err, tt.want) {
				t.Fatalf("Update = %v, want %v", err, tt.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, before) {
				t.Errorf("a refused Update changed %s", path)
			}
			s.DropCaches()
			if got, err := s.Get(1000, "k"); err != nil || !equalRecords(got, orig) {
				t.Errorf("Get = %+v, %v, want the original", got, err)
			}
		})
	}
}

func TestUpdateKeyIDMismatchIsNotFound(t *testing.T) {
	if !errors.Is(ErrKeyIDMismatch, ErrKeyNotFound) {
		t.Errorf("errors.Is(ErrKeyIDMismatch, ErrKeyNotFound) = false, want true")
	}
}

// TestUpdateRefusesInvalidatedRecord: a record that fails its check is not
// overwritten by Update; its owner deletes it.
func TestUpdateRefusesInvalidatedRecord(t *testing.T) {
	s, dir, _ := newTestStore(t)
	r := symmetricRecord(1000, "k")
	if err := s.Create(r, 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	path := filepath.Join(dir, "keys", "1000", "k.key")
	b, _ := os.ReadFile(path)
	b[len(b)-1] ^= 1
	writeOver(t, path, b)
	if err := s.Update(rotated(r)); !errors.Is(err, ErrKeyInvalidated) {
		t.Errorf("Update over a tampered record = %v, want ErrKeyInvalidated", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Errorf("Update replaced a tampered record")
	}
}

// TestUpdateMACCoversNewContent: the rewritten file verifies as the new
// record, under its uid and alias, and any flipped byte of it is refused.
func TestUpdateMACCoversNewContent(t *testing.T) {
	s, dir, _ := newTestStore(t)
	r := symmetricRecord(1000, "k")
	if err := s.Create(r, 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	r = rotated(r)
	if err := s.Update(r); err != nil {
		t.Fatalf("Update = %v", err)
	}
	path := filepath.Join(dir, "keys", "1000", "k.key")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newRecordCodec()
	key, _ := newSecretKey(testMACKey())
	if got, err := c.decode(key, 1000, "k", data); err != nil || !equalRecords(got, r) {
		t.Fatalf("decode(updated file) = %+v, %v, want %+v", got, err, r)
	}
	if _, err := c.decode(key, 1000, "other", data); err == nil {
		t.Errorf("decode(updated file as alias other) = nil error, want a MAC mismatch")
	}
	newest, _ := r.Newest()
	i := bytes.Index(data, newest.Blob.Private)
	if i < 0 {
		t.Fatal("the new version's blob is not in the file")
	}
	for _, at := range []int{i, i + len(newest.Blob.Private) - 1, len(data) - 1} {
		b := bytes.Clone(data)
		b[at] ^= 0x80
		writeOver(t, path, b)
		s.DropCaches()
		if got, err := s.Get(1000, "k"); !errors.Is(err, ErrKeyInvalidated) {
			t.Errorf("Get after flipping byte %d of the updated file = %+v, %v, want ErrKeyInvalidated", at, got, err)
		}
	}
}

// TestUpdateConcurrentGet: while one goroutine rewrites a record back and
// forth, readers through the same store (cache and disk) and through a
// second store on the same directory (disk only, no shared lock) see the
// old record or the new one, complete, every time.
func TestUpdateConcurrentGet(t *testing.T) {
	s, dir, _ := newTestStore(t)
	a := symmetricRecord(1000, "k")
	b := rotated(a)
	if err := s.Create(a, 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	other, _ := openTestStore(t, dir)
	const updates = 100
	done := make(chan struct{})
	var wg sync.WaitGroup
	read := func(st *Store, drop bool) {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if drop {
				st.DropCaches()
			}
			got, err := st.Get(1000, "k")
			if err != nil || (!equalRecords(got, a) && !equalRecords(got, b)) {
				t.Errorf("Get during Update = %+v, %v, want the old or the new record", got, err)
				return
			}
		}
	}
	wg.Add(3)
	go read(s, false)
	go read(s, true)
	go read(other, true)
	for i := range updates {
		next := b
		if i%2 == 1 {
			next = a
		}
		if err := s.Update(next); err != nil {
			t.Errorf("Update %d = %v", i, err)
			break
		}
	}
	close(done)
	wg.Wait()
	if got, err := s.Get(1000, "k"); err != nil || !equalRecords(got, a) {
		t.Errorf("Get after the updates = %+v, %v, want the last one written", got, err)
	}
}
