package sshagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
)

// Server serves the ssh-agent protocol on a listener: each connection's
// caller is identified by the kernel (SO_PEERCRED) and admitted by the
// core (Core.Connect: allow lists, connection limits per owner), then
// served by agent.ServeAgent with one agent bound to its Session.
type Server struct {
	log  *slog.Logger
	core *core.Core

	ctx    context.Context // every request's; cancelled when a shutdown runs out of time
	cancel context.CancelFunc

	mu       sync.Mutex // guards active and closing
	active   map[*net.UnixConn]struct{}
	closing  bool
	connWG   sync.WaitGroup
	stopping atomic.Bool // set by Shutdown before it sets read deadlines
}

func NewServer(log *slog.Logger, c *core.Core) *Server {
	s := &Server{log: log, core: c, active: map[*net.UnixConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections until ln is closed by Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if !temporary(err) {
				return fmt.Errorf("Accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("ssh-agent socket: accept failed; backing off", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		uc, ok := nc.(*net.UnixConn)
		if !ok || !s.track(uc) {
			nc.Close()
			continue
		}
		s.connWG.Add(1)
		go s.serveConn(uc)
	}
}

func temporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) serveConn(nc *net.UnixConn) {
	defer s.connWG.Done()
	defer s.untrack(nc)
	defer nc.Close()
	caller, err := core.PeerCredentials(nc)
	if err != nil {
		s.log.Warn("ssh-agent connection refused: no peer credentials", "err", err)
		return
	}
	sess, err := s.core.Connect(caller)
	if err != nil {
		return // the core logged it; the ssh-agent protocol has no greeting to refuse in
	}
	defer sess.Close()
	m := &meteredConn{nc: nc, core: s.core, sess: sess, ctx: s.ctx, stopping: &s.stopping}
	defer m.done()
	a := &sshAgent{ctx: s.ctx, sess: sess, log: s.log, closeAsked: func() { m.closing.Store(true) }}
	err = agent.ServeAgent(a, m)
	if err != nil && !errors.Is(err, io.EOF) && !s.isClosing() {
		s.log.Debug("ssh-agent connection closed", "uid", caller.UID, "pid", caller.PID, "reason", err)
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) track(nc *net.UnixConn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.active[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc *net.UnixConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, nc)
}

// Shutdown stops accepting, lets each connection finish the request it
// is serving (a read deadline in the past ends the wait for the next),
// and closes what is left after timeout.
func (s *Server) Shutdown(ln net.Listener, timeout time.Duration) {
	s.mu.Lock()
	s.closing = true
	s.stopping.Store(true)
	conns := make([]*net.UnixConn, 0, len(s.active))
	for nc := range s.active {
		conns = append(conns, nc)
	}
	s.mu.Unlock()
	ln.Close()
	for _, nc := range conns {
		nc.SetReadDeadline(time.Unix(1, 0))
	}
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(timeout):
	}
	s.cancel()
	for _, nc := range conns {
		nc.Close()
	}
	<-done
}
