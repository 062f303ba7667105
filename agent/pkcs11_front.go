//go:build linux

package agent

import (
	"log/slog"
	"net"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11"
)

// PKCS11FDName is the FileDescriptorName of the PKCS#11 socket unit
// (systemd/tpmkeyd-pkcs11.socket).
const PKCS11FDName = "pkcs11"

// pkcs11Front is the PKCS#11 socket and its server; a nil *pkcs11Front
// (no socket configured) does nothing.
type pkcs11Front struct {
	ln  *listener
	srv *pkcs11.Server
}

// listenPKCS11 takes the "pkcs11" socket systemd passed, else makes one at
// opts.PKCS11SocketPath (mode 0666: callers are told apart inside); with
// neither it returns nil.
func listenPKCS11(opts *Options) (*pkcs11Front, error) {
	if opts.PKCS11Listener != nil {
		return &pkcs11Front{ln: &listener{Listener: opts.PKCS11Listener, activated: true}}, nil
	}
	byName, err := opts.activated()
	if err != nil {
		return nil, err
	}
	for _, ln := range byName[PKCS11FDName] {
		if _, ok := ln.(*net.UnixListener); ok {
			return &pkcs11Front{ln: &listener{Listener: ln, path: ln.Addr().String(), activated: true}}, nil
		}
	}
	if opts.PKCS11SocketPath == "" {
		return nil, nil
	}
	mode := opts.SocketMode
	ln, err := createSocket(opts.PKCS11SocketPath, mode, opts.SocketGroup)
	if err != nil {
		return nil, err
	}
	return &pkcs11Front{ln: ln}, nil
}

func (f *pkcs11Front) start(log *slog.Logger, c *core.Core) {
	if f == nil {
		return
	}
	f.srv = pkcs11.NewServer(log, c)
	go func() {
		if err := f.srv.Serve(f.ln); err != nil {
			log.Error("pkcs11: serving stopped", "err", err)
		}
	}()
	log.Info("pkcs11 socket ready", "socket", f.ln.path, "activated", f.ln.activated)
}

func (f *pkcs11Front) shutdown(timeout time.Duration) {
	if f != nil && f.srv != nil {
		f.srv.Shutdown(f.ln, timeout)
	}
}

func (f *pkcs11Front) close() {
	if f != nil {
		f.ln.Close()
		f.ln.remove()
	}
}
