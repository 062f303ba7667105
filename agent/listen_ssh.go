//go:build linux

package agent

import (
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"github.com/tpmkeyd/tpmkeyd/agent/sshagent"
)

// FDNameSSH is the FileDescriptorName= of tpmkeyd-ssh.socket: the daemon
// tells its activated sockets apart by these names; a socket with another
// name (tpmkeyd.socket's default is its unit name) is the native one.
const FDNameSSH = "ssh-agent"

// frontEndFDNames are the names of activated sockets that are not the
// native protocol's.
func frontEndFDNames() []string { return []string{FDNameSSH, PKCS11FDName} }

// activatedSockets is what systemd passed, read once (the environment is
// cleared on the first read), by FileDescriptorName.
type activatedSockets struct {
	read   bool
	byName map[string][]net.Listener
	err    error
}

func (o *Options) activated() (map[string][]net.Listener, error) {
	if o.sockets == nil {
		o.sockets = &activatedSockets{}
	}
	s := o.sockets
	if !s.read {
		s.read = true
		s.byName, s.err = activation.ListenersWithNames()
		if s.err != nil {
			s.err = fmt.Errorf("activation.ListenersWithNames: %w", s.err)
		}
	}
	return s.byName, s.err
}

// mainActivated is the activated sockets of the native protocol.
func (o *Options) mainActivated() ([]net.Listener, error) {
	byName, err := o.activated()
	var out []net.Listener
	for name, lns := range byName {
		if !slices.Contains(frontEndFDNames(), name) {
			out = append(out, lns...)
		}
	}
	return out, err
}

// listenSSH is the ssh-agent socket: the given one (tests), the one
// systemd passed as FDNameSSH, a new one at SSHSocketPath, or none.
func listenSSH(opts *Options) (*listener, error) {
	if opts.SSHListener != nil {
		return &listener{Listener: opts.SSHListener, path: opts.SSHSocketPath, activated: true}, nil
	}
	byName, err := opts.activated()
	if err != nil {
		return nil, err
	}
	for _, ln := range byName[FDNameSSH] {
		if ln == nil {
			continue
		}
		if _, ok := ln.(*net.UnixListener); !ok {
			ln.Close()
			return nil, fmt.Errorf("socket activation passed a %s socket as %s, want a Unix stream socket", ln.Addr().Network(), FDNameSSH)
		}
		return &listener{Listener: ln, path: ln.Addr().String(), activated: true}, nil
	}
	if opts.SSHSocketPath == "" {
		return nil, nil
	}
	return createSocket(opts.SSHSocketPath, opts.SocketMode, opts.SocketGroup)
}

// startSSH serves the ssh-agent socket, if there is one.
func (rn *running) startSSH(d *Daemon) {
	if rn.sshLn == nil {
		return
	}
	rn.sshSrv = sshagent.NewServer(d.log, rn.core)
	go func() {
		if err := rn.sshSrv.Serve(rn.sshLn); err != nil {
			d.log.Error("ssh-agent socket stopped serving", "socket", rn.sshLn.path, "err", err)
		}
	}()
	d.log.Info("serving ssh-agent", "socket", rn.sshLn.path, "activated", rn.sshLn.activated)
}

// stopSSH stops the ssh-agent front end; Core.Close clears the core's ssh
// state (cached PIN authorizations, agent locks) afterwards.
func (rn *running) stopSSH(timeout time.Duration) {
	if rn.sshSrv != nil {
		rn.sshSrv.Shutdown(rn.sshLn, timeout)
	}
}
