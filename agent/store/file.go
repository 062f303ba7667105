package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
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

// readSmallFile reads a regular file of at most max bytes. It does not follow
// a symlink in the last path element, and checks the size before reading.
func readSmallFile(path string, max int64) ([]byte, error) {
	b, _, err := readSmallFileStat(path, max)
	return b, err
}

// readSmallFileStat is readSmallFile that also returns the file's stat,
// taken before reading.
func readSmallFileStat(path string, max int64) ([]byte, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: %w", path, errNotRegular)
	}
	if st.Size() > max {
		return nil, nil, fmt.Errorf("%s: %d bytes: %w", path, st.Size(), errFileTooLarge)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, nil, err
	}
	if int64(len(b)) > max {
		return nil, nil, fmt.Errorf("%s: grew past %d bytes: %w", path, max, errFileTooLarge)
	}
	return b, st, nil
}

// writeNewFile atomically creates dir/name holding data, mode 0600, and fails
// with an error matching fs.ErrExist if it already exists. It writes and
// fsyncs a temporary file, hard-links it to the final name (link never
// replaces, unlike rename), removes the temporary name and fsyncs dir.
func writeNewFile(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return fmt.Errorf("os.CreateTemp: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeSynced(tmp, data); err != nil {
		return err
	}
	if err := os.Link(tmpName, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("os.Link: %w", err)
	}
	if err := os.Remove(tmpName); err != nil {
		return fmt.Errorf("os.Remove: %w", err)
	}
	return syncDir(dir)
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

// removeFile removes path and fsyncs its directory, so that a deleted key
// stays deleted after a crash.
func removeFile(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync dir %s: %w", dir, err)
	}
	return nil
}

// mkdirPrivate creates dir with mode 0700 if it does not exist, and makes the
// new entry durable in its parent.
func mkdirPrivate(dir string) error {
	err := os.Mkdir(dir, privateDirMode)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("os.Mkdir: %w", err)
	}
	if err := os.Chmod(dir, privateDirMode); err != nil {
		return fmt.Errorf("os.Chmod: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}
