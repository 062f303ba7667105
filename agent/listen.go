package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/tpmkeyd/tpmkeyd/agent/core"
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
	lns, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("activation.Listeners: %w", err)
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
// answers on it, then applies mode and group.
func createSocket(path string, mode os.FileMode, group string) (*listener, error) {
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("os.MkdirAll: %w", err)
	}
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("net.ListenUnix %s: %w", path, err)
	}
	ul.SetUnlinkOnClose(false) // removal is ours, and only of our own socket
	l := &listener{Listener: ul, path: path}
	if err := l.applyModeGroup(mode, group); err != nil {
		ul.Close()
		os.Remove(path)
		return nil, err
	}
	return l, nil
}

func (l *listener) applyModeGroup(mode os.FileMode, group string) error {
	if err := os.Chmod(l.path, mode); err != nil {
		return fmt.Errorf("os.Chmod %s: %w", l.path, err)
	}
	if group != "" {
		gid, err := core.LookupGID(group)
		if err != nil {
			return fmt.Errorf("socket group: %w", err)
		}
		if err := os.Chown(l.path, -1, int(gid)); err != nil {
			return fmt.Errorf("os.Chown %s: %w", l.path, err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(l.path, &st); err != nil {
		return fmt.Errorf("stat %s: %w", l.path, err)
	}
	l.ino = st.Ino
	return nil
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
	var st syscall.Stat_t
	if err := syscall.Stat(l.path, &st); err == nil && st.Ino == l.ino {
		os.Remove(l.path)
	}
}
