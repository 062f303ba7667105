//go:build linux

package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"golang.org/x/sys/unix"
)

// listener is the daemon's socket and what to do with it on exit.
type listener struct {
	net.Listener
	path      string
	activated bool // made by systemd (or the caller): leave the file alone
	ino       uint64
}

// listen returns the given listener, else the one systemd passed
// (LISTEN_FDS), else a new socket at opts.SocketPath.
func listen(opts *Options) (*listener, error) {
	if opts.Listener != nil {
		return &listener{Listener: opts.Listener, path: opts.SocketPath, activated: true}, nil
	}
	lns, err := opts.mainActivated()
	if err != nil {
		return nil, err
	}
	for _, ln := range lns {
		if ln == nil {
			continue
		}
		if _, ok := ln.(*net.UnixListener); !ok {
			ln.Close()
			return nil, fmt.Errorf("socket activation passed a %s socket, want a Unix stream socket", ln.Addr().Network())
		}
		return &listener{Listener: ln, path: ln.Addr().String(), activated: true}, nil
	}
	return createSocket(opts.SocketPath, opts.SocketMode, opts.SocketGroup)
}

// createSocket listens at path, replacing a stale socket only when nothing
// answers on it, then applies mode and group. The directory must be safe
// (checkSocketDir), and mode and group are set on the socket file that was
// bound, never through a symlink.
func createSocket(path string, mode os.FileMode, group string) (*listener, error) {
	dir, uid := filepath.Dir(path), uint32(os.Geteuid())
	// Judge what exists before creating anything under it.
	if err := checkSocketDir(existingAncestor(dir), uid); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("os.MkdirAll: %w", err)
	}
	if err := checkSocketDir(dir, uid); err != nil {
		return nil, err
	}
	gid := -1
	if group != "" {
		g, err := core.LookupGID(group)
		if err != nil {
			return nil, fmt.Errorf("socket group: %w", err)
		}
		gid = int(g)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("net.ListenUnix %s: %w", path, err)
	}
	ul.SetUnlinkOnClose(false) // removal is ours, and only of our own socket
	l := &listener{Listener: ul, path: path}
	if err := l.applyModeGroup(mode, gid); err != nil {
		ul.Close()
		l.remove() // only if the file is still the socket we bound
		return nil, err
	}
	return l, nil
}

// checkSocketDir refuses dir when it, or a directory above it, is owned by
// someone other than root or uid, or is writable by group or others without
// the sticky bit (which stops others from renaming or removing what they do
// not own). Symlinks on the way are resolved first and their targets judged.
func checkSocketDir(dir string, uid uint32) error {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return fmt.Errorf("socket directory: lstat %s: %w", d, err)
		}
		switch {
		case st.Uid != 0 && st.Uid != uid:
			return fmt.Errorf("%w: %s is owned by uid %d, want root or %d", ErrUnsafeSocketDir, d, st.Uid, uid)
		case st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0:
			return fmt.Errorf("%w: %s has mode %04o: writable by group or others and not sticky",
				ErrUnsafeSocketDir, d, st.Mode&0o7777)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// existingAncestor is dir, or the nearest directory above it that exists.
func existingAncestor(dir string) string {
	for {
		if _, err := os.Lstat(dir); err == nil || dir == filepath.Dir(dir) {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}

// applyModeGroup sets mode and group (gid -1: leave it) on the socket file
// at l.path, which must be the socket this process bound: a socket owned by
// our uid, not a symlink. It works on an O_PATH descriptor of the file:
// fchmod on the listening socket's own descriptor would change the socket
// inode, not the file's mode that connect(2) checks, and chmod or chown by
// path would follow a symlink put there.
func (l *listener) applyModeGroup(mode os.FileMode, gid int) error {
	fd, err := unix.Open(l.path, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", l.path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("fstat %s: %w", l.path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK || st.Uid != uint32(os.Geteuid()) {
		return fmt.Errorf("%s is not the socket just bound (mode %#o, uid %d); refusing to change it",
			l.path, st.Mode, st.Uid)
	}
	l.ino = st.Ino
	if err := fchmodPath(fd, uint32(mode.Perm())); err != nil {
		return fmt.Errorf("chmod %s: %w", l.path, err)
	}
	if gid >= 0 {
		if err := unix.Fchownat(fd, "", -1, gid, unix.AT_EMPTY_PATH); err != nil {
			return fmt.Errorf("chown %s: %w", l.path, err)
		}
	}
	return nil
}

// fchmodPath changes the mode of the file an O_PATH descriptor names, as
// glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does: through /proc/self/fd, whose
// link leads to that very inode. Without /proc it tries fchmodat2 (Linux
// 6.6), which the unit's seccomp filter may not allow.
func fchmodPath(fd int, mode uint32) error {
	err := unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode)
	if errors.Is(err, unix.ENOENT) {
		err = unix.Fchmodat(fd, "", mode, unix.AT_EMPTY_PATH)
	}
	return err
}

// removeStaleSocket removes a socket file that nobody listens on. A live
// one means another daemon: ErrAlreadyRunning. Anything but a socket, or a
// socket that neither answers nor refuses, is left alone.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("os.Lstat: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s answers: %w", path, ErrAlreadyRunning)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probing %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("removing stale socket: %w", err)
	}
	return nil
}

// remove deletes the socket file on exit, unless systemd owns it or
// another daemon has since put its own socket there.
func (l *listener) remove() {
	if l.activated {
		return
	}
	var st unix.Stat_t
	if err := unix.Lstat(l.path, &st); err == nil && st.Ino == l.ino {
		os.Remove(l.path)
	}
}
