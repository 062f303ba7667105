//go:build linux

package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// socketTestDir is a short private directory (sun_path holds 108 bytes)
// for one test's sockets.
func socketTestDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ls")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// mkdirMode makes dir with exactly mode, whatever the umask.
func mkdirMode(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

func statOf(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

// TestCreateSocketDirectoryChecks: a socket directory that another user
// could change, itself or above it, is refused before anything is bound;
// a private or sticky one is accepted.
func TestCreateSocketDirectoryChecks(t *testing.T) {
	tests := []struct {
		name   string
		root   bool // needs root (chown to another uid)
		setup  func(t *testing.T, base string) (socketDir string)
		unsafe bool
	}{
		{"private-dir", false, func(t *testing.T, base string) string {
			return base
		}, false},
		{"missing-dir-is-created", false, func(t *testing.T, base string) string {
			return filepath.Join(base, "new", "run")
		}, false},
		{"world-writable-dir", false, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "d"), 0o777)
			return filepath.Join(base, "d")
		}, true},
		{"group-writable-dir", false, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "d"), 0o770)
			return filepath.Join(base, "d")
		}, true},
		{"sticky-world-writable-dir", false, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "d"), os.ModeSticky|0o777)
			return filepath.Join(base, "d")
		}, false},
		{"world-writable-parent", false, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "p"), 0o777)
			mkdirMode(t, filepath.Join(base, "p", "d"), 0o755)
			return filepath.Join(base, "p", "d")
		}, true},
		{"missing-dir-under-world-writable-parent", false, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "p"), 0o777)
			return filepath.Join(base, "p", "new")
		}, true},
		{"symlink-to-world-writable-dir", false, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "d"), 0o777)
			if err := os.Symlink("d", filepath.Join(base, "link")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(base, "link")
		}, true},
		{"symlink-to-private-dir", false, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "d"), 0o755)
			if err := os.Symlink("d", filepath.Join(base, "link")); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(base, "link")
		}, false},
		{"dir-owned-by-another-uid", true, func(t *testing.T, base string) string {
			mkdirMode(t, filepath.Join(base, "d"), 0o755)
			if err := os.Chown(filepath.Join(base, "d"), 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(base, "d")
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root && os.Geteuid() != 0 {
				t.Skip("needs root to give a directory to another uid")
			}
			base := socketTestDir(t)
			dir := tt.setup(t, base)
			path := filepath.Join(dir, "s.sock")
			l, err := createSocket(path, 0o666, "")
			if tt.unsafe {
				if !errors.Is(err, ErrUnsafeSocketDir) {
					t.Fatalf("createSocket(%s) = %v, want ErrUnsafeSocketDir", path, err)
				}
				if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("createSocket refused, but %s: Lstat = %v, want not exist", path, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("createSocket(%s) = %v, want nil", path, err)
			}
			l.Close()
			l.remove()
		})
	}
}

// TestCreateSocketModeAndGroup: the file gets exactly the mode asked for,
// whatever the umask, and the group.
func TestCreateSocketModeAndGroup(t *testing.T) {
	gid, group := os.Getgid(), ""
	if os.Geteuid() == 0 {
		gid, group = 65534, "65534"
	}
	for _, mode := range []os.FileMode{0o666, 0o660, 0o600} {
		t.Run(fmt.Sprintf("mode-%04o", uint32(mode)), func(t *testing.T) {
			path := filepath.Join(socketTestDir(t), "s.sock")
			l, err := createSocket(path, mode, group)
			if err != nil {
				t.Fatalf("createSocket = %v", err)
			}
			defer l.remove()
			defer l.Close()
			st := statOf(t, path)
			if got := os.FileMode(st.Mode & 0o7777); got != mode || st.Mode&syscall.S_IFMT != syscall.S_IFSOCK {
				t.Errorf("socket mode = %#o, want a socket of mode %v", st.Mode, mode)
			}
			if int(st.Gid) != gid {
				t.Errorf("socket gid = %d, want %d", st.Gid, gid)
			}
		})
	}
}

// TestApplyModeGroupRefusesSymlink is the audit's case: the socket path
// replaced by a symlink to a root 0600 file between bind and chmod. The
// file keeps its mode and owner.
func TestApplyModeGroupRefusesSymlink(t *testing.T) {
	dir := socketTestDir(t)
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.sock")
	if err := os.Symlink(secret, path); err != nil {
		t.Fatal(err)
	}
	group := -1
	if os.Geteuid() == 0 {
		group = 65534
	}
	for _, tc := range []struct {
		name   string
		target string
	}{{"symlink", path}, {"regular-file", secret}} {
		t.Run(tc.name, func(t *testing.T) {
			l := &listener{path: tc.target}
			if err := l.applyModeGroup(0o666, group); err == nil {
				t.Errorf("applyModeGroup(%s) = nil, want an error", tc.name)
			}
			st := statOf(t, secret)
			if st.Mode&0o777 != 0o600 || int(st.Gid) != os.Getgid() {
				t.Errorf("the file is now mode %#o gid %d, want 0600 and gid %d", st.Mode&0o777, st.Gid, os.Getgid())
			}
			if l.ino != 0 {
				t.Errorf("listener.ino = %d, want 0 so that remove leaves the file alone", l.ino)
			}
		})
	}
}
