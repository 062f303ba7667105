package pkcs11

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
)

// maxMalformed is how many messages in a row may fail to parse before the
// connection is closed.
const maxMalformed = 16

// conn is one p11-kit-client.so connection: one process's view of the
// token. p11-kit's client sends a request and waits for its answer on each
// thread, pairing answers by code, so requests from several threads may
// be in flight at once; each runs on its own goroutine (at most
// MaxInflightPerConn) and answers are written as they complete.
type conn struct {
	s    *Server
	nc   *net.UnixConn
	sess *core.Session
	br   *bufio.Reader // read by serve only

	// reqCtx is every request's context: the acceptor's, cancelled when a
	// shutdown runs out of time. ctx also ends when the connection stops
	// reading (a frame waiting for memory budget stops waiting).
	reqCtx context.Context
	ctx    context.Context
	cancel context.CancelFunc

	sem       chan struct{}
	readDone  chan struct{} // closed when reading ends
	inflight  sync.WaitGroup
	stopping  atomic.Bool
	malformed atomic.Int32
	wmu       sync.Mutex // one response written at a time
	wdeadline time.Time  // the write deadline set; guarded by wmu
	// rdeadline tells that a read deadline is set; the reader role's.
	rdeadline bool

	tok token // PKCS#11 state; see token.go for its lock
}

func newConn(s *Server, reqCtx context.Context, nc *net.UnixConn, sess *core.Session) *conn {
	ctx, cancel := context.WithCancel(reqCtx)
	c := &conn{s: s, nc: nc, sess: sess, br: bufio.NewReaderSize(nc, 4096), reqCtx: reqCtx, ctx: ctx, cancel: cancel,
		sem: make(chan struct{}, max(1, s.core.Limits().MaxInflightPerConn)), readDone: make(chan struct{})}
	c.tok.init(sess.Caller())
	return c
}

// Serve negotiates the version, then reads frames until the peer leaves,
// a frame is bad or the server stops, and waits for the requests in
// flight.
func (c *conn) Serve() {
	defer c.finish()
	lim := c.s.core.Limits()
	c.armReadDeadline(lim.ReadTimeout.Duration) // cleared by the first readFrame
	if _, err := rpc.Negotiate(readWriter{c.br, c.nc}); err != nil {
		return
	}
	c.readAndRun()
	<-c.readDone
}

// readAndRun holds the reader role: it reads frames and answers the quick
// ones itself; for any other, it starts a goroutine that takes the reader
// role over and runs the request on this one, so the request starts at
// once, without waiting for another goroutine to wake. The role is held by
// one goroutine at a time (the fields of the reader, br and the read
// deadline, are its own); the one that meets the end closes readDone.
func (c *conn) readAndRun() {
	for {
		code, msg, release, err := c.readFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, errStopping) {
				c.s.log.Debug("pkcs11: connection closed", "uid", c.sess.Caller().UID, "pid", c.sess.Caller().PID, "reason", err)
			}
			close(c.readDone)
			return
		}
		c.sem <- struct{}{}
		c.inflight.Add(1)
		if inline(msg) {
			// Quick calls that never wait on the core or the TPM.
			c.run(code, msg, release)
			continue
		}
		go c.readAndRun()
		c.run(code, msg, release)
		return
	}
}

// run answers one message and releases what the reader took for it.
func (c *conn) run(code uint32, msg []byte, release func()) {
	defer func() { <-c.sem; c.inflight.Done() }()
	defer release()
	if !c.handle(code, msg) {
		c.StopReading()
	}
}

// inlineCalls only touch the connection's own state.
var inlineCalls = map[rpc.Call]bool{
	rpc.CallGetInfo: true, rpc.CallGetSlotList: true, rpc.CallGetSlotInfo: true, rpc.CallGetTokenInfo: true,
	rpc.CallGetMechanismList: true, rpc.CallGetMechanismInfo: true, rpc.CallOpenSession: true,
	rpc.CallCloseSession: true, rpc.CallGetSessionInfo: true, rpc.CallLogin: true, rpc.CallLogout: true,
	rpc.CallGetAttributeValue: true, rpc.CallFindObjects: true, rpc.CallFindObjectsFinal: true,
	rpc.CallSignInit: true, rpc.CallSignUpdate: true, rpc.CallDecryptInit: true,
	rpc.CallVerifyInit: true, rpc.CallVerifyUpdate: true, rpc.CallEncryptInit: true,
}

// sizeQueryCalls end with an "fy" (the caller's output buffer size);
// asked with no buffer, they answer the size from the connection's own
// state, never calling the core.
var sizeQueryCalls = map[rpc.Call]bool{rpc.CallSign: true, rpc.CallSignFinal: true, rpc.CallDecrypt: true, rpc.CallEncrypt: true}

// inline reports whether msg is a call of inlineCalls, from its call id,
// or a size query of sizeQueryCalls: its last four bytes, the buffer size,
// are zero (a malformed message merely fails to parse where it is read).
func inline(msg []byte) bool {
	if len(msg) < 4 {
		return false
	}
	call := rpc.Call(binary.BigEndian.Uint32(msg))
	if inlineCalls[call] {
		return true
	}
	return sizeQueryCalls[call] && len(msg) >= 8 && binary.BigEndian.Uint32(msg[len(msg)-4:]) == 0
}

// readFrame waits for a frame (no idle limit: p11-kit's client keeps its
// connection for the life of the process and does not reconnect), takes
// the memory budget for its declared size before reading it, and gives
// the rest of the frame ReadTimeout. A frame that arrived whole with its
// first bytes is read from the buffer with no deadline set or cleared
// (p11-kit's client writes the header, the options and the message with
// three writes back to back, so whether the rest is there when the reader
// wakes is a matter of timing).
func (c *conn) readFrame() (code uint32, msg []byte, release func(), err error) {
	lim := c.s.core.Limits()
	if c.rdeadline {
		c.nc.SetReadDeadline(time.Time{})
		c.rdeadline = false
	}
	if c.stopping.Load() {
		return 0, nil, nil, errStopping
	}
	if _, err := c.br.Peek(1); err != nil {
		if c.stopping.Load() {
			return 0, nil, nil, errStopping
		}
		return 0, nil, nil, err
	}
	if c.br.Buffered() < rpc.HeaderSize {
		c.armReadDeadline(lim.ReadTimeout.Duration)
	}
	h, err := rpc.ReadFrameHeader(c.br, lim.MaxFrameSize)
	if err != nil {
		return 0, nil, nil, err
	}
	// Every frame pays the caller's rate cost, also those answered here
	// without a core call (C_GetInfo, C_SignInit, size queries, finds), so
	// that no caller can keep the daemon busy for free.
	if err := c.sess.WaitFrame(c.ctx); err != nil {
		return 0, nil, nil, errStopping
	}
	release, waited, err := c.sess.HoldFrame(c.ctx, int(h.DataLen+h.OptionsLen))
	if err != nil {
		return 0, nil, nil, errStopping
	}
	if waited || (!c.rdeadline && uint64(c.br.Buffered()) < uint64(h.DataLen)+uint64(h.OptionsLen)) {
		c.armReadDeadline(lim.ReadTimeout.Duration)
	}
	msg, err = rpc.ReadFrameBody(c.br, h)
	if err != nil {
		release()
		return 0, nil, nil, err
	}
	return h.Code, msg, release, nil
}

// armReadDeadline gives what is left of a frame d to arrive.
func (c *conn) armReadDeadline(d time.Duration) {
	c.nc.SetReadDeadline(deadline(d))
	c.rdeadline = true
}

// handle answers one message; it reports false when the connection must
// close.
func (c *conn) handle(code uint32, msg []byte) bool {
	t := &task{c: c, ctx: c.reqCtx}
	defer t.finish()
	defer clear(msg)
	frame, ok := t.run(msg)
	if !ok {
		if c.malformed.Add(1) >= maxMalformed {
			c.s.log.Debug("pkcs11: closing connection", "uid", c.sess.Caller().UID, "reason", errTooManyMalformed)
			return false
		}
	} else {
		c.malformed.Store(0)
	}
	rpc.PutFrameHeader(frame, code)
	c.write(frame)
	if t.sensitive {
		clear(frame)
	}
	return true
}

// write sends one frame with one write. The write deadline is moved only
// when less than half of ReadTimeout is left of it, so a response written
// within half of ReadTimeout of the last move costs a clock read instead
// of a timer update; a peer that stops reading still blocks a write for at
// most ReadTimeout, and at least half of it.
func (c *conn) write(frame []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if d := c.s.core.Limits().ReadTimeout.Duration; d > 0 {
		if now := time.Now(); c.wdeadline.Sub(now) < d/2 {
			c.wdeadline = now.Add(d)
			c.nc.SetWriteDeadline(c.wdeadline)
		}
	} else if !c.wdeadline.IsZero() {
		c.wdeadline = time.Time{}
		c.nc.SetWriteDeadline(c.wdeadline)
	}
	if _, err := c.nc.Write(frame); err != nil {
		c.nc.Close()
	}
}

func (c *conn) finish() {
	c.inflight.Wait()
	c.cancel()
	c.nc.Close()
	c.tok.close()
}

// StopReading makes the reader return; requests in flight finish.
func (c *conn) StopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Unix(1, 0))
}

type readWriter struct {
	io.Reader
	io.Writer
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}
