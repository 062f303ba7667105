package sshagent

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
)

// MaxFrameSize caps one ssh-agent request; the largest real one is an
// ssh-add of an RSA-16384 key with a certificate, a few KiB. The core's
// max_frame_size caps it further.
const MaxFrameSize = 256 << 10

// meteredConn is the connection as ServeAgent sees it: before a request's
// body is read (and allocated by x/crypto), its length is checked, the
// frame charged to the caller's rate limit (Session.WaitFrame: x/crypto
// answers malformed requests without any core call) and the core's memory
// budget taken for it (Session.HoldFrame), released once the
// request has been served (the first write of its answer) or the
// connection ends. A started frame must arrive within read_timeout; there
// is no idle timeout, since ssh and sshd (HostKeyAgent) keep their agent
// connections open for a session's life; idle connections count against
// the owner's connection limit (Core.Connect).
type meteredConn struct {
	nc   *net.UnixConn
	core *core.Core
	sess *core.Session
	ctx  context.Context

	// Only ServeAgent's goroutine reads and writes the fields below.
	hdr     [4]byte
	pending []byte // the length prefix, to hand to ServeAgent
	left    int    // body bytes still to read
	release func()

	closing  atomic.Bool  // the core asked to close
	stopping *atomic.Bool // the server's: it shuts down
}

func (m *meteredConn) Read(p []byte) (int, error) {
	if len(m.pending) == 0 && m.left == 0 {
		if err := m.startFrame(); err != nil {
			return 0, err
		}
	}
	if len(m.pending) > 0 {
		n := copy(p, m.pending)
		m.pending = m.pending[n:]
		return n, nil
	}
	if len(p) > m.left {
		p = p[:m.left]
	}
	n, err := m.nc.Read(p)
	m.left -= n
	return n, err
}

// startFrame reads the next length prefix (waiting up to the idle
// timeout), refuses 0 and oversized lengths before anything is allocated,
// and takes the budget for the body.
func (m *meteredConn) startFrame() error {
	m.done()
	if m.closing.Load() {
		return ErrClosing
	}
	lim := m.core.Limits()
	m.nc.SetReadDeadline(time.Time{})
	// Checked after the deadline is set, so that a Shutdown's deadline
	// in the past is never overwritten unseen.
	if m.stopping.Load() {
		return ErrClosing
	}
	if _, err := io.ReadFull(m.nc, m.hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(m.hdr[:])
	if n == 0 || n > min(MaxFrameSize, lim.MaxFrameSize) {
		return ErrFrame
	}
	if err := m.sess.WaitFrame(m.ctx); err != nil {
		return err
	}
	release, _, err := m.sess.HoldFrame(m.ctx, int(n))
	if err != nil {
		return err
	}
	m.release = release
	m.nc.SetReadDeadline(deadline(lim.ReadTimeout.Duration))
	m.pending, m.left = m.hdr[:], int(n)
	return nil
}

func (m *meteredConn) Write(p []byte) (int, error) {
	m.done() // the request is served; its bytes are garbage now
	m.nc.SetWriteDeadline(deadline(m.core.Limits().ReadTimeout.Duration))
	return m.nc.Write(p)
}

// done returns the budget of the request answered last.
func (m *meteredConn) done() {
	if m.release != nil {
		m.release()
		m.release = nil
	}
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}
