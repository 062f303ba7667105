package store

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// recordSuffix ends every record's file name.
const recordSuffix = ".key"

// Keys is what the daemon core, the bench and tools need of a store, so
// that they can take a fake. *Store is the one implementation.
type Keys interface {
	Get(uid uint32, alias string) (*Record, error)
	Create(r *Record, maxKeys int) error
	Delete(uid uint32, alias string) (*Record, error)
	List(uid uint32, cursor string, limit int) ([]*Record, string, error)
	Count(uid uint32) (int, error)
	CountAll() (map[uint32]int, error)
	Update(r *Record) error
}

var _ Keys = (*Store)(nil)

// Store keeps one MAC-protected record per key in DIR/keys/<uid>/<alias>.key.
// Safe for concurrent use. Records are read on first use, then cached; a
// record returned by Get is shared and must not be modified.
//
// Every path below dir is opened relative to its parent's fd without
// following symlinks (dirs.go, file.go), so that no uid reaches another's
// records through a planted link.
//
// Records changed behind the store's back (an admin's rm, cp or restore)
// are noticed at their next use: a cached record is checked against its
// file with one lstat. Counts and listings follow a removed record at once,
// a restored one at its next use or at DropCaches (done at every reload).
type Store struct {
	keysDir string
	key     *secretKey
	log     *slog.Logger
	codec   recordCodec
	cache   *recordCache

	mu   sync.Mutex         // guards uids
	uids map[uint32]*uidDir // one view per uid, never removed
}

// uidDir is the in-memory view of one uid's directory.
type uidDir struct {
	// mu is held for writing by Create, Update and Delete, which makes the
	// quota check and the create atomic, and for reading while Get fills
	// the cache, so that a concurrent Update or Delete cannot leave a stale
	// cache entry.
	mu     sync.RWMutex
	loaded bool
	names  []string // sorted aliases on disk, valid once loaded
}

// Open opens (creating if needed, 0700) the store under dir. It does
// not read the records: start-up time must not grow with the key count.
// It copies macKey; the caller should wipe its own copy.
func Open(dir string, macKey []byte, log *slog.Logger) (*Store, error) {
	key, err := newSecretKey(macKey)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	codec, err := newRecordCodec()
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		keysDir: filepath.Join(dir, "keys"),
		key:     key,
		log:     log,
		codec:   codec,
		cache:   newRecordCache(defaultCachedRecords),
		uids:    make(map[uint32]*uidDir),
	}
	for _, d := range []string{dir, s.keysDir} {
		if err := mkdirPrivate(d); err != nil {
			return nil, fmt.Errorf("store.Open: %w", err)
		}
	}
	keys, err := openDir(s.keysDir) // refuses a symlink planted as keys/
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	keys.Close()
	return s, nil
}

// Close wipes the integrity key held in memory. The store must not be used
// afterwards.
func (s *Store) Close() error {
	s.key.wipe()
	s.cache.clear()
	return nil
}

// Get returns the record, from cache or disk. ErrInvalidAlias,
// ErrKeyNotFound, ErrKeyInvalidated (or ErrUnsupportedRecord, a kind of it).
func (s *Store) Get(uid uint32, alias string) (*Record, error) {
	if !ValidAlias(alias) {
		return nil, ErrInvalidAlias
	}
	k := recordKey{uid, alias}
	r, vanished := s.cached(k)
	if r != nil {
		return r, nil
	}
	if vanished {
		s.relist(uid)
	}
	r, restored, err := s.load(k)
	if restored {
		s.relist(uid) // a record restored behind our back: list it
	}
	return r, err
}

// load reads k's record from disk into the cache, under the uid's read
// lock so that a concurrent Delete cannot leave a stale entry. restored
// reports a record missing from the uid's loaded listing.
func (s *Store) load(k recordKey) (r *Record, restored bool, err error) {
	d := s.dir(k.uid)
	d.mu.RLock()
	defer d.mu.RUnlock()
	r, id, err := s.read(k.uid, k.alias)
	if err != nil {
		return nil, false, err
	}
	s.cache.put(k, r, id)
	_, listed := slices.BinarySearch(d.names, k.alias)
	return r, d.loaded && !listed, nil
}

// cached returns k's record from the cache if its file is still the one
// that was read: one lstat, so that an admin's rm or cp takes effect at
// once. A stale entry is dropped; vanished reports that the file is gone,
// so the caller makes the uid's listing be read again (see relist).
//
// The lstat resolves keys/<uid> by path, but it can only confirm the very
// file (inode, ctime, size) that was read and verified through directory
// fds, so a symlink planted since cannot make it vouch for another file.
func (s *Store) cached(k recordKey) (r *Record, vanished bool) {
	e, ok := s.cache.get(k)
	if !ok {
		return nil, false
	}
	var st unix.Stat_t
	err := unix.Lstat(s.path(k.uid, k.alias), &st)
	if err == nil && fileIDOfStat(&st) == e.id {
		return e.r, false
	}
	s.cache.remove(k)
	return nil, errors.Is(err, fs.ErrNotExist)
}

// relist makes uid's sorted listing be read from disk again, after a
// record vanished behind the store's back.
func (s *Store) relist(uid uint32) {
	d := s.dir(uid)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.loaded, d.names = false, nil
}

// Create writes a new record atomically. ErrInvalidAlias; ErrKeyExists;
// ErrQuotaExceeded when the owner already has maxKeys (0 = unlimited). The
// quota check and the create are atomic per uid. Times and the rotation
// period are stored with one-second precision. A record breaking the rules
// of its kind (a symmetric key's versions) is ErrInvalidRecord.
func (s *Store) Create(r *Record, maxKeys int) error {
	if !ValidAlias(r.Alias) {
		return ErrInvalidAlias
	}
	rec := storedCopy(r)
	data, err := s.codec.encode(s.key, rec)
	if err != nil {
		return fmt.Errorf("store.Create: %w", err)
	}
	d := s.dir(rec.OwnerUID)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := s.loadLocked(rec.OwnerUID, d); err != nil {
		return err
	}
	i, found := slices.BinarySearch(d.names, rec.Alias)
	if found {
		return ErrKeyExists
	}
	if maxKeys > 0 && len(d.names) >= maxKeys {
		return ErrQuotaExceeded
	}
	udir, err := s.openUID(rec.OwnerUID, true)
	if err != nil {
		return fmt.Errorf("store.Create: %w", err)
	}
	defer udir.Close()
	name := rec.Alias + recordSuffix
	err = writeNewFile(udir, name, data)
	if errors.Is(err, fs.ErrExist) {
		d.names = slices.Insert(d.names, i, rec.Alias) // created behind our back
		return ErrKeyExists
	}
	if err != nil {
		return fmt.Errorf("store.Create: %w", err)
	}
	d.names = slices.Insert(d.names, i, rec.Alias)
	var st unix.Stat_t
	if unix.Fstatat(int(udir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
		s.cache.put(recordKey{rec.OwnerUID, rec.Alias}, rec, fileIDOfStat(&st))
	}
	return nil
}

// storedCopy is a deep copy of r as it will read back from disk: times in
// UTC and whole seconds, as is the rotation period.
func storedCopy(r *Record) *Record {
	rec := r.clone()
	rec.Created = time.Unix(r.Created.Unix(), 0).UTC()
	for i := range rec.Versions {
		rec.Versions[i].Created = time.Unix(rec.Versions[i].Created.Unix(), 0).UTC()
	}
	rec.RotationPeriod = rec.RotationPeriod.Truncate(time.Second)
	return rec
}

// Delete removes the record and returns it (so the caller can flush it).
// A record that fails its integrity check, or has a newer format, is
// removed too; then the returned Record holds only Alias and OwnerUID, and
// an empty Blob.
func (s *Store) Delete(uid uint32, alias string) (*Record, error) {
	if !ValidAlias(alias) {
		return nil, ErrInvalidAlias
	}
	d := s.dir(uid)
	d.mu.Lock()
	defer d.mu.Unlock()
	k := recordKey{uid, alias}
	r, vanished := s.cached(k)
	if vanished {
		d.loaded, d.names = false, nil
	}
	udir, err := s.openUID(uid, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrKeyNotFound
	case err != nil:
		return nil, err
	}
	defer udir.Close()
	if r == nil {
		r, _, err = s.readIn(udir, uid, alias)
		switch {
		case errors.Is(err, ErrKeyInvalidated):
			r = &Record{Alias: alias, OwnerUID: uid}
		case err != nil:
			return nil, err
		}
	}
	err = removeFileIn(udir, alias+recordSuffix)
	if err == nil {
		removeFileIn(udir, alias+certSuffix) // the key's certificate goes with it (cert.go)
	}
	s.cache.remove(k)
	if i, ok := slices.BinarySearch(d.names, alias); ok {
		d.names = slices.Delete(d.names, i, i+1)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrKeyNotFound
	case err != nil:
		d.loaded, d.names = false, nil // the file may or may not be gone
		return nil, fmt.Errorf("store.Delete: %w", err)
	}
	return r, nil
}

// Count is the number of keys uid has. The first call per uid reads its
// directory; later ones are kept up to date by Create and Delete.
func (s *Store) Count(uid uint32) (int, error) {
	d, err := s.loadedDir(uid)
	if err != nil {
		return 0, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.names), nil
}

// CountAll is the number of keys per uid, for admins. Uids without keys are
// left out.
// A uid whose directory is refused (a symlink) is left out too, and logged.
func (s *Store) CountAll() (map[uint32]int, error) {
	entries, err := s.uidNames()
	if err != nil {
		return nil, fmt.Errorf("store.CountAll: %w", err)
	}
	counts := make(map[uint32]int)
	for _, name := range entries {
		uid, err := strconv.ParseUint(name, 10, 32)
		if err != nil || strconv.FormatUint(uid, 10) != name {
			continue
		}
		n, err := s.Count(uint32(uid))
		switch {
		case errors.Is(err, ErrUnsafePath):
			continue
		case err != nil:
			return nil, err
		}
		if n > 0 {
			counts[uint32(uid)] = n
		}
	}
	return counts, nil
}

// DropCaches forgets every cached record and directory listing, so that the
// next calls see what is on disk.
func (s *Store) DropCaches() {
	s.cache.clear()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.uids {
		d.mu.Lock()
		d.loaded, d.names = false, nil
		d.mu.Unlock()
	}
}

// read reads and verifies one record from disk. A record that fails any
// check is logged at warning level and reported as ErrKeyInvalidated (or
// ErrUnsupportedRecord, a kind of it) only: the details stay in the log.
func (s *Store) read(uid uint32, alias string) (*Record, fileID, error) {
	udir, err := s.openUID(uid, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fileID{}, ErrKeyNotFound
	case err != nil:
		return nil, fileID{}, err
	}
	defer udir.Close()
	return s.readIn(udir, uid, alias)
}

// readIn is read with uid's directory already open.
func (s *Store) readIn(udir *os.File, uid uint32, alias string) (*Record, fileID, error) {
	name := alias + recordSuffix
	path := filepath.Join(udir.Name(), name)
	data, id, err := readSmallFileIn(udir, name, maxRecordSize)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fileID{}, ErrKeyNotFound
	case errors.Is(err, errFileTooLarge), errors.Is(err, ErrUnsafePath):
		return nil, fileID{}, s.refuse(uid, alias, path, err)
	case err != nil:
		return nil, fileID{}, fmt.Errorf("store: read record: %w", err)
	}
	r, err := s.codec.decode(s.key, uid, alias, data)
	if err != nil {
		return nil, fileID{}, s.refuse(uid, alias, path, err)
	}
	return r, id, nil
}

// refuse logs why a record is not used and returns the one sentinel the
// caller sees: ErrUnsupportedRecord for a newer format, ErrUnsafePath for a
// symlink or special file, else ErrKeyInvalidated.
func (s *Store) refuse(uid uint32, alias, path string, cause error) error {
	refused, msg := ErrKeyInvalidated, "key record refused: failed its integrity check"
	switch {
	case errors.Is(cause, ErrUnsupportedRecord):
		refused, msg = ErrUnsupportedRecord, "key record refused: written by a newer tpmkeyd"
	case errors.Is(cause, ErrUnsafePath):
		refused, msg = ErrUnsafePath, "key record refused: a symlink or special file"
	}
	s.log.Warn(msg, "uid", uid, "alias", alias, "path", path, "err", cause)
	return refused
}

func (s *Store) dir(uid uint32) *uidDir {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.uids[uid]
	if d == nil {
		d = &uidDir{}
		s.uids[uid] = d
	}
	return d
}

// loadedDir returns uid's directory view with its listing loaded.
func (s *Store) loadedDir(uid uint32) (*uidDir, error) {
	d := s.dir(uid)
	d.mu.RLock()
	ok := d.loaded
	d.mu.RUnlock()
	if ok {
		return d, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d, s.loadLocked(uid, d)
}

// loadLocked reads uid's directory into d.names once, and removes temporary
// files a crash left behind.
func (s *Store) loadLocked(uid uint32, d *uidDir) error {
	if d.loaded {
		return nil
	}
	udir, err := s.openUID(uid, false)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.names, d.loaded = nil, true
		return nil
	case err != nil:
		return err
	}
	defer udir.Close()
	entries, err := readDirNames(udir)
	if err != nil {
		return fmt.Errorf("store: list: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if strings.HasPrefix(e, tempPrefix) {
			removeStaleTemp(udir, e)
			continue
		}
		if alias, ok := strings.CutSuffix(e, recordSuffix); ok && ValidAlias(alias) {
			names = append(names, alias)
		}
	}
	slices.Sort(names)
	d.names, d.loaded = names, true
	return nil
}
