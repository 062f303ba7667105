package store

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// openUID opens keys/<uid> through directory fds, never following a
// symlink, creating it (0700) first if create is set. A missing directory
// matches fs.ErrNotExist; a symlink or non-directory is logged and refused
// with ErrUnsafePath, so that no uid reaches another's records through one.
func (s *Store) openUID(uid uint32, create bool) (*os.File, error) {
	keys, err := openDir(s.keysDir)
	if err != nil {
		return nil, s.refuseDir(uid, err)
	}
	defer keys.Close()
	name := strconv.FormatUint(uint64(uid), 10)
	if create {
		if err := mkdirPrivateIn(keys, name); err != nil {
			return nil, s.refuseDir(uid, err)
		}
	}
	udir, err := openDirIn(keys, name)
	if err != nil {
		return nil, s.refuseDir(uid, err)
	}
	return udir, nil
}

// refuseDir logs an unsafe key directory and returns ErrUnsafePath alone;
// other errors pass through.
func (s *Store) refuseDir(uid uint32, err error) error {
	if !errors.Is(err, ErrUnsafePath) {
		return err
	}
	s.log.Warn("key directory refused: a symlink or not a directory", "uid", uid, "err", err)
	return ErrUnsafePath
}

// uidNames lists keys/; a missing keys/ is empty.
func (s *Store) uidNames() ([]string, error) {
	keys, err := openDir(s.keysDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer keys.Close()
	return readDirNames(keys)
}

// staleTempAge is how old a temporary file must be before loadLocked takes
// it for a crash's leftover. Younger ones may belong to a write in flight in
// another process (an admin tool, or a test's second store).
const staleTempAge = time.Hour

func removeStaleTemp(udir *os.File, name string) {
	var st unix.Stat_t
	if unix.Fstatat(int(udir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return
	}
	if time.Since(time.Unix(st.Mtim.Unix())) > staleTempAge {
		unix.Unlinkat(int(udir.Fd()), name, 0)
	}
}

func (s *Store) uidPath(uid uint32) string {
	return filepath.Join(s.keysDir, strconv.FormatUint(uint64(uid), 10))
}

// path is the record's file, for messages and the cache's lstat. Only call
// it with a valid alias.
func (s *Store) path(uid uint32, alias string) string {
	return filepath.Join(s.uidPath(uid), alias+recordSuffix)
}
