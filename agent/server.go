package agent

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// tpmBackend is the part of *tpm.TPM the request path uses.
type tpmBackend interface {
	Info() tpm.Info
	Supports(a tpm.Algorithm) bool
	Random(ctx context.Context, n int) ([]byte, error)
	CreateKey(ctx context.Context, spec tpm.KeySpec) (*tpm.Blob, crypto.PublicKey, error)
	Seal(ctx context.Context, secret []byte, spec tpm.KeySpec) (*tpm.Blob, error)
	Sign(ctx context.Context, b *tpm.Blob, a tpm.Auth, digest []byte, o tpm.SignOptions) ([]byte, error)
	Decrypt(ctx context.Context, b *tpm.Blob, a tpm.Auth, ciphertext []byte, s tpm.DecryptScheme) ([]byte, error)
	ECDH(ctx context.Context, b *tpm.Blob, a tpm.Auth, peer crypto.PublicKey) ([]byte, error)
	Unseal(ctx context.Context, b *tpm.Blob, a tpm.Auth) ([]byte, error)
	Forget(b *tpm.Blob)
}

// keyStore is the part of *Store the request path uses.
type keyStore interface {
	Get(uid uint32, alias string) (*Record, error)
	Create(r *Record, maxKeys int) error
	Delete(uid uint32, alias string) (*Record, error)
	List(uid uint32, cursor string, limit int) ([]*Record, string, error)
	Count(uid uint32) (int, error)
	CountAll() (map[uint32]int, error)
}

var (
	_ tpmBackend = (*tpm.TPM)(nil)
	_ keyStore   = (*Store)(nil)
)

// server accepts connections and runs their requests. The Daemon owns it
// and swaps its settings on reload.
type server struct {
	log      *slog.Logger
	tpm      tpmBackend
	store    keyStore
	version  string
	started  time.Time
	settings atomic.Pointer[settings]
	conns    *connCounter
	rates    *rateLimiters
	bufs     sync.Pool // *[]byte response buffers

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

func newServer(log *slog.Logger, t tpmBackend, st keyStore, version string, s *settings) *server {
	srv := &server{
		log: log, tpm: t, store: st, version: version, started: time.Now(),
		conns: newConnCounter(), rates: newRateLimiters(),
		active: map[*conn]struct{}{},
	}
	srv.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	srv.reqCtx, srv.reqCancel = context.WithCancel(context.Background())
	srv.settings.Store(s)
	return srv
}

// serve accepts connections until ln is closed by shutdown. A temporary
// Accept error (out of file descriptors) backs off and carries on.
func (s *server) serve(ln net.Listener) error {
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

// serveConn identifies the peer, applies the connection limits, then runs
// the connection until it ends.
func (s *server) serveConn(nc *net.UnixConn) {
	defer s.connWG.Done()
	caller, err := peerCredentials(nc)
	if err != nil {
		s.log.Warn("connection refused: no peer credentials", "err", err)
		nc.Close()
		return
	}
	st := s.settings.Load()
	c := newConn(s, nc, caller, st)
	if !st.mayConnect(&caller) {
		c.refuse(protocol.StatusPermissionDenied, "not allowed to use this agent")
		return
	}
	if !s.conns.acquire(caller.UID, st.cfg.Limits) {
		c.refuse(protocol.StatusBusy, "too many connections")
		return
	}
	defer s.conns.release(caller.UID)
	if !s.track(c) {
		nc.Close()
		return
	}
	defer s.untrack(c)
	c.serve()
}

func (s *server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

func (s *server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.active[c] = struct{}{}
	return true
}

func (s *server) untrack(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, c)
}

// shutdown stops accepting, stops reading new requests, lets in-flight
// requests finish within timeout, then closes every connection.
func (s *server) shutdown(ln net.Listener, timeout time.Duration) {
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
