// Package frontend is what every socket front end of the daemon (the
// native protocol, the ssh-agent protocol, p11-kit's RPC) does alike: it
// accepts Unix connections, backing off on temporary errors; identifies
// each peer from the kernel and has the core admit it (Core.Connect); tracks
// the connections; and shuts them down within a timeout. A front end
// supplies only how one admitted connection is served. It decides nothing:
// access, limits and audit are the core's.
package frontend

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

// Conn is one admitted connection, served by its front end.
type Conn interface {
	// Serve runs the connection until the peer leaves, the front end ends
	// it, or StopReading was called and its requests are answered; it
	// closes nothing the acceptor owns (the acceptor closes the socket and
	// the session after it).
	Serve()
	// StopReading makes the connection read no further requests; requests
	// in flight finish. It is called from another goroutine, once.
	StopReading()
}

// Protocol is a front end as the acceptor sees it.
type Protocol struct {
	// Name is the protocol's name in log lines ("native", "ssh-agent").
	Name string
	// Open makes the connection of an admitted caller; ctx is every
	// request's context, cancelled when a shutdown runs out of time.
	Open func(ctx context.Context, nc *net.UnixConn, caller core.Caller, sess *core.Session) Conn
	// Refuse answers a caller the core did not admit, in the protocol's
	// way, before the socket is closed; nil: the socket is just closed.
	Refuse func(nc *net.UnixConn, err error)
}

// Acceptor serves one protocol on listeners.
type Acceptor struct {
	log   *slog.Logger
	core  *core.Core
	proto Protocol

	ctx    context.Context // every request's; cancelled when a shutdown runs out of time
	cancel context.CancelFunc

	mu      sync.Mutex // guards active and closing
	active  map[*net.UnixConn]Conn
	closing bool
	connWG  sync.WaitGroup // connection goroutines
}

// New returns an acceptor of proto over the core c.
func New(log *slog.Logger, c *core.Core, proto Protocol) *Acceptor {
	a := &Acceptor{log: log, core: c, proto: proto, active: map[*net.UnixConn]Conn{}}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a
}

// Serve accepts connections until ln is closed by Shutdown. A temporary
// Accept error (out of file descriptors) backs off and carries on.
func (a *Acceptor) Serve(ln net.Listener) error {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if a.isClosing() {
				return nil
			}
			if !temporary(err) {
				return fmt.Errorf("Accept: %w", err)
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			a.log.Warn("accept failed; backing off", "socket", a.proto.Name, "err", err, "backoff", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		uc, ok := nc.(*net.UnixConn)
		if !ok {
			nc.Close()
			continue
		}
		a.connWG.Add(1)
		go a.serveConn(uc)
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

// serveConn identifies the peer, has the core admit it, then serves the
// connection until it ends, and closes it.
func (a *Acceptor) serveConn(nc *net.UnixConn) {
	defer a.connWG.Done()
	defer nc.Close()
	caller, err := core.PeerCredentials(nc)
	if err != nil {
		a.log.Warn("connection refused: no peer credentials", "socket", a.proto.Name, "err", err)
		return
	}
	sess, err := a.core.Connect(caller)
	if err != nil {
		if a.proto.Refuse != nil {
			a.proto.Refuse(nc, err)
		}
		return
	}
	defer sess.Close()
	c := a.proto.Open(a.ctx, nc, caller, sess)
	if !a.track(nc, c) {
		return
	}
	defer a.untrack(nc)
	c.Serve()
}

func (a *Acceptor) isClosing() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closing
}

func (a *Acceptor) track(nc *net.UnixConn, c Conn) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return false
	}
	a.active[nc] = c
	return true
}

func (a *Acceptor) untrack(nc *net.UnixConn) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.active, nc)
}

// Shutdown stops accepting and reading, lets the requests in flight be
// answered within timeout, then cancels what is left, closes every
// connection, and waits for them at most timeout again.
func (a *Acceptor) Shutdown(ln net.Listener, timeout time.Duration) {
	a.mu.Lock()
	a.closing = true
	ncs := make([]*net.UnixConn, 0, len(a.active))
	conns := make([]Conn, 0, len(a.active))
	for nc, c := range a.active {
		ncs, conns = append(ncs, nc), append(conns, c)
	}
	a.mu.Unlock()
	ln.Close()
	for _, c := range conns {
		c.StopReading()
	}
	if waitTimeout(&a.connWG, timeout) {
		a.cancel()
		return
	}
	a.log.Warn("shutdown timeout: cancelling requests still in flight", "socket", a.proto.Name, "timeout", timeout)
	a.cancel()
	for _, nc := range ncs {
		nc.Close()
	}
	if !waitTimeout(&a.connWG, timeout) {
		a.log.Error("shutdown: connections still busy after cancel", "socket", a.proto.Name)
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
