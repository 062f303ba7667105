package store

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// Update replaces the stored record of r's owner and alias with r, a new
// version of the same key (a rotation, a version disabled): the record is
// rewritten atomically, so a concurrent Get sees the old record or the new
// one, never a mix. ErrInvalidAlias; ErrKeyNotFound if there is no record;
// ErrKeyIDMismatch (a kind of ErrKeyNotFound) if the alias now holds another
// key; ErrInvalidRecord if r breaks the rules of its kind or changes its
// algorithm. A stored record that fails its integrity check is not replaced:
// its error (ErrKeyInvalidated or a kind of it) is returned.
func (s *Store) Update(r *Record) error {
	if !ValidAlias(r.Alias) {
		return ErrInvalidAlias
	}
	rec := storedCopy(r)
	data, err := s.codec.encode(s.key, rec)
	if err != nil {
		return fmt.Errorf("store.Update: %w", err)
	}
	k := recordKey{rec.OwnerUID, rec.Alias}
	d := s.dir(k.uid)
	d.mu.Lock() // against Create, Delete and Get's cache fill
	defer d.mu.Unlock()
	udir, err := s.openUID(k.uid, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrKeyNotFound
	case err != nil:
		return err
	}
	defer udir.Close()
	// The stored record is read from disk, not the cache, under the lock:
	// it is the one being replaced.
	old, _, err := s.readIn(udir, k.uid, k.alias)
	switch {
	case err != nil:
		return err
	case old.KeyID != rec.KeyID:
		return ErrKeyIDMismatch
	case old.Algorithm != rec.Algorithm:
		return fmt.Errorf("store.Update: %w: algorithm %q, stored %q", ErrInvalidRecord, rec.Algorithm, old.Algorithm)
	}
	name := rec.Alias + recordSuffix
	s.cache.remove(k)
	if err := replaceFile(udir, name, data); err != nil {
		return fmt.Errorf("store.Update: %w", err)
	}
	var st unix.Stat_t
	if unix.Fstatat(int(udir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		s.cache.put(k, rec, fileIDOfStat(&st))
	}
	return nil
}
