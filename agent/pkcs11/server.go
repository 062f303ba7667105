package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
)

// Server accepts PKCS#11 (p11-kit RPC) connections and has the core admit
// each caller; conn.go serves a connection.
type Server struct {
	log  *slog.Logger
	core *core.Core

	// reqCtx is every request's context; cancelled when a shutdown runs
	// out of time.
	reqCtx    context.Context
	reqCancel context.CancelFunc

	mu      sync.Mutex // guards active and closing
	active  map[*conn]struct{}
	closing bool

	handlers sync.WaitGroup // requests in flight, all connections
	connWG   sync.WaitGroup // connection goroutines
}

// NewServer returns a server of the core c.
func NewServer(log *slog.Logger, c *core.Core) *Server {
	s := &Server{log: log, core: c, active: map[*conn]struct{}{}}
	s.reqCtx, s.reqCancel = context.WithCancel(context.Background())
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
			s.log.Warn("pkcs11: accept failed; backing off", "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		uc, ok := nc.(*net.UnixConn)
		if !ok {
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

// serveConn identifies the peer from the kernel, has the core admit it and
// runs the connection. A refused caller's socket is closed: p11-kit's
// client then reports the token as absent.
func (s *Server) serveConn(nc *net.UnixConn) {
	defer s.connWG.Done()
	caller, err := core.PeerCredentials(nc)
	if err != nil {
		s.log.Warn("pkcs11: connection refused: no peer credentials", "err", err)
		nc.Close()
		return
	}
	sess, err := s.core.Connect(caller)
	if err != nil {
		nc.Close()
		return
	}
	defer sess.Close()
	c := newConn(s, nc, sess)
	if !s.track(c) {
		nc.Close()
		return
	}
	defer s.untrack(c)
	c.serve()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.active[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, c)
}

// Shutdown stops accepting and reading, lets requests in flight finish
// within timeout, then closes every connection.
func (s *Server) Shutdown(ln net.Listener, timeout time.Duration) {
	s.mu.Lock()
	s.closing = true
	conns := make([]*conn, 0, len(s.active))
	for c := range s.active {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	ln.Close()
	for _, c := range conns {
		c.stopReading()
	}
	if !waitTimeout(&s.handlers, timeout) {
		s.log.Warn("pkcs11: shutdown timeout: cancelling requests still in flight", "timeout", timeout)
	}
	s.reqCancel()
	for _, c := range conns {
		c.nc.Close()
	}
	waitTimeout(&s.connWG, timeout)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
