package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// writeFileAtomic puts data at path as a new file of mode 0600, whatever
// was there: it writes a temporary file created beside path (O_EXCL and
// O_NOFOLLOW, so nothing that exists is opened), fsyncs it, renames it over
// path and fsyncs the directory. An existing file's mode, owner and links
// are not inherited, so a secret never lands in a world-readable file, and
// a reader sees the old content or the new, never half. path itself must
// not be a symlink (renaming over it would work, but the caller most likely
// meant the file it points to, which would stay unchanged) or anything but
// a regular file.
func writeFileAtomic(path string, data []byte) error {
	return writeFileAtomicWith(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeFileAtomicWith is writeFileAtomic for content that fill writes,
// such as a stream: if fill fails, the temporary file is removed and path
// is left as it was, so a failed decryption leaves no partial plaintext.
func writeFileAtomicWith(path string, fill func(w io.Writer) error) error {
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link; refusing to write through it (name the file itself)", path)
		case !fi.Mode().IsRegular():
			return fmt.Errorf("%s is not a regular file; refusing to replace it (use - for standard output)", path)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	tmp := filepath.Join(dir, "."+base+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if err := fillSyncClose(f, fill); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

func fillSyncClose(f *os.File, fill func(w io.Writer) error) error {
	err := fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
