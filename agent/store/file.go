package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Modes of everything the store creates. They are set explicitly after
// creation, so an unusual umask cannot widen or narrow them.
const (
	privateDirMode  = 0o700
	privateFileMode = 0o600
)

// tempPrefix starts every temporary file. It begins with '.', which no valid
// alias does, so a temporary file is never mistaken for a record.
const tempPrefix = ".tmp-"

// Everything below the state directory is opened one component at a time,
// relative to its parent's fd and with O_NOFOLLOW, so a symlink planted in
// the tree (keys/<uid> → keys/0) is refused, never followed. The state
// directory's own path is the admin's and is resolved as given.
const (
	dirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	readFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK // a planted FIFO cannot block the open
	tempFlags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
)

// openDir opens the directory at path, whose last component must not be a
// symlink: ErrUnsafePath if it is one or is not a directory.
func openDir(path string) (*os.File, error) {
	return openDirAt(unix.AT_FDCWD, path, path)
}

// openDirIn opens the directory name inside dir, as openDir does.
func openDirIn(dir *os.File, name string) (*os.File, error) {
	return openDirAt(int(dir.Fd()), name, filepath.Join(dir.Name(), name))
}

func openDirAt(dirfd int, name, path string) (*os.File, error) {
	fd, err := openat(dirfd, name, dirFlags, 0)
	switch {
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("%s: %w", path, ErrUnsafePath)
	case err != nil:
		return nil, &fs.PathError{Op: "openat", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// readSmallFile reads the regular file at path, of at most max bytes, not
// following a symlink in its last component.
func readSmallFile(path string, max int64) ([]byte, error) {
	b, _, err := readSmallFileAt(unix.AT_FDCWD, path, path, max)
	return b, err
}

// readSmallFileIn reads the regular file name inside dir, of at most max
// bytes, and returns the identity of what it read. A symlink or special file
// there is ErrUnsafePath; a missing one matches fs.ErrNotExist.
func readSmallFileIn(dir *os.File, name string, max int64) ([]byte, fileID, error) {
	return readSmallFileAt(int(dir.Fd()), name, filepath.Join(dir.Name(), name), max)
}

// readSmallFileAt checks the size before reading, and again while reading.
func readSmallFileAt(dirfd int, name, path string, max int64) ([]byte, fileID, error) {
	fd, err := openat(dirfd, name, readFlags, 0)
	switch {
	case errors.Is(err, unix.ELOOP):
		return nil, fileID{}, fmt.Errorf("%s: %w", path, ErrUnsafePath)
	case err != nil:
		return nil, fileID{}, &fs.PathError{Op: "openat", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fileID{}, &fs.PathError{Op: "fstat", Path: path, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, fileID{}, fmt.Errorf("%s: %w: %w", path, errNotRegular, ErrUnsafePath)
	case st.Size > max:
		return nil, fileID{}, fmt.Errorf("%s: %d bytes: %w", path, st.Size, errFileTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fileID{}, err
	}
	if int64(len(b)) > max {
		return nil, fileID{}, fmt.Errorf("%s: grew past %d bytes: %w", path, max, errFileTooLarge)
	}
	return b, fileIDOfStat(&st), nil
}

// writeNewFile atomically creates name inside dir holding data, mode 0600,
// and fails with an error matching fs.ErrExist if it already exists. It
// writes and fsyncs a temporary file, hard-links it to the final name (link
// never replaces, unlike rename), removes the temporary name and fsyncs dir.
func writeNewFile(dir *os.File, name string, data []byte) error {
	dirfd := int(dir.Fd())
	tmp, err := createTemp(dir)
	if err != nil {
		return err
	}
	tmpName := filepath.Base(tmp.Name())
	defer unix.Unlinkat(dirfd, tmpName, 0)
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	if err := unix.Linkat(dirfd, tmpName, dirfd, name, 0); err != nil {
		return &fs.PathError{Op: "linkat", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	if err := unix.Unlinkat(dirfd, tmpName, 0); err != nil {
		return &fs.PathError{Op: "unlinkat", Path: tmp.Name(), Err: err}
	}
	return syncDir(dir)
}

// replaceFile atomically replaces name inside dir with data, mode 0600: it
// writes and fsyncs a temporary file, renames it over name and fsyncs dir,
// so that a reader opening name at any moment finds the old file or the new
// one, complete. renameat replaces the entry name itself and never follows
// a symlink there. Unlike writeNewFile it creates name if it is missing:
// the caller checks that it exists first.
func replaceFile(dir *os.File, name string, data []byte) error {
	dirfd := int(dir.Fd())
	tmp, err := createTemp(dir)
	if err != nil {
		return err
	}
	tmpName := filepath.Base(tmp.Name())
	if err := writeSynced(tmp, data); err != nil {
		unix.Unlinkat(dirfd, tmpName, 0)
		return err
	}
	if err := unix.Renameat(dirfd, tmpName, dirfd, name); err != nil {
		unix.Unlinkat(dirfd, tmpName, 0)
		return &fs.PathError{Op: "renameat", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	return syncDir(dir)
}

// writeNewFileAt is writeNewFile into the directory at path.
func writeNewFileAt(path, name string, data []byte) error {
	dir, err := os.Open(path)
	if err != nil {
		return err
	}
	defer dir.Close()
	return writeNewFile(dir, name, data)
}

// createTemp creates a new temporary file inside dir, mode 0600.
func createTemp(dir *os.File) (*os.File, error) {
	var rnd [8]byte
	for range 16 {
		rand.Read(rnd[:])
		name := tempPrefix + hex.EncodeToString(rnd[:])
		fd, err := openat(int(dir.Fd()), name, tempFlags, privateFileMode)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "openat", Path: filepath.Join(dir.Name(), name), Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil
	}
	return nil, fmt.Errorf("createTemp %s: no free name", dir.Name())
}

func writeSynced(f *os.File, data []byte) error {
	err := f.Chmod(privateFileMode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

// removeFileIn removes name inside dir and fsyncs dir, so that a deleted
// key stays deleted after a crash. A symlink is removed, not followed.
func removeFileIn(dir *os.File, name string) error {
	if err := unix.Unlinkat(int(dir.Fd()), name, 0); err != nil {
		return &fs.PathError{Op: "unlinkat", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	return syncDir(dir)
}

func syncDir(dir *os.File) error {
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir.Name(), err)
	}
	return nil
}

// mkdirPrivate creates the directory at path with mode 0700 if it does not
// exist, and makes the new entry durable in its parent. It is for the state
// directory itself, whose path is the admin's.
func mkdirPrivate(path string) error {
	err := os.Mkdir(path, privateDirMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("os.Mkdir: %w", err)
	}
	if err := os.Chmod(path, privateDirMode); err != nil {
		return fmt.Errorf("os.Chmod: %w", err)
	}
	parent, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	defer parent.Close()
	return syncDir(parent)
}

// mkdirPrivateIn creates the directory name inside dir, as mkdirPrivate
// does. An existing entry is left as it is: opening it refuses a symlink.
func mkdirPrivateIn(dir *os.File, name string) error {
	err := unix.Mkdirat(int(dir.Fd()), name, privateDirMode)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return &fs.PathError{Op: "mkdirat", Path: filepath.Join(dir.Name(), name), Err: err}
	}
	d, err := openDirIn(dir, name)
	if err != nil {
		return err
	}
	err = unix.Fchmod(int(d.Fd()), privateDirMode)
	d.Close()
	if err != nil {
		return &fs.PathError{Op: "fchmod", Path: d.Name(), Err: err}
	}
	return syncDir(dir)
}

// readDirNames lists dir.
func readDirNames(dir *os.File) ([]string, error) {
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("readdir %s: %w", dir.Name(), err)
	}
	return names, nil
}
