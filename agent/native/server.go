package native

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
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Server is the socket front end of the native protocol
// (docs/PROTOCOL.md): it accepts connections, has the core admit each
// caller, and turns frames into Calls and the core's Results into frames
// (conn.go). It decides nothing: access, limits and audit are the core's.
type Server struct {
	log  *slog.Logger
	core *core.Core
	pool protocol.BufferPool // frame buffers, requests and responses (no secret stays in it)

	// reqCtx is every request's context; it is cancelled only when a
	// shutdown runs out of time.
	reqCtx    context.Context
	reqCancel context.CancelFunc

	mu       sync.Mutex
	active   map[*conn]struct{}
	closing  bool
	handlers sync.WaitGroup // requests in flight, all connections
	connWG   sync.WaitGroup // connection goroutines
}

func NewServer(log *slog.Logger, c *core.Core) *Server {
	srv := &Server{log: log, core: c, active: map[*conn]struct{}{}}
	srv.reqCtx, srv.reqCancel = context.WithCancel(context.Background())
	return srv
}

// Serve accepts connections until ln is closed by shutdown. A temporary
// Accept error (out of file descriptors) backs off and carries on.
func (s *Server) Serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			if !temporaryAcceptError(err) {
				return fmt.Errorf("Accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; backing off", "err", err, "backoff", backoff)
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

func temporaryAcceptError(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS,
		syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// serveConn identifies the peer, has the core admit it, then runs the
// connection until it ends.
func (s *Server) serveConn(nc *net.UnixConn) {
	defer s.connWG.Done()
	caller, err := core.PeerCredentials(nc)
	if err != nil {
		s.log.Warn("connection refused: no peer credentials", "err", err)
		nc.Close()
		return
	}
	sess, err := s.core.Connect(caller)
	if err != nil {
		st, msg := core.ErrorStatus(err)
		c := newConn(s, nc, nil)
		c.refuse(st, msg)
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

// Shutdown stops accepting, stops reading new requests, lets in-flight
// requests finish within timeout, then closes every connection.
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
		s.log.Warn("shutdown timeout: cancelling requests still in flight", "timeout", timeout)
	}
	for _, c := range conns {
		c.nc.Close()
	}
	s.reqCancel()
	if !waitTimeout(&s.connWG, timeout) {
		s.log.Error("shutdown: connections still busy after cancel; closing anyway")
	}
}

// waitTimeout waits for wg, at most d; it reports whether wg finished.
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
