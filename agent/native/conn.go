package native

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// respBufSize is the first buffer of a response whose size is not known
// before encoding; it grows as needed.
const respBufSize = 4096

// conn is one client connection, served by a small pool of goroutines of
// which exactly one, the reader, reads frames. A reader that gets a request
// passes the reader role to an idle goroutine (starting one if none is
// idle, up to MaxInflightPerConn+1) and runs the request itself: the
// request starts at once, without waiting for another goroutine to wake,
// and a goroutine keeps its grown stack from one request to the next
// (with a goroutine per request, runtime.newstack was 7 % of the daemon's
// CPU). At most MaxInflightPerConn requests run at once; responses are
// written as they complete, in any order, each whole; those that complete
// while another is being written go out together with the next write
// (writer.go).
type conn struct {
	s  *Server
	nc *net.UnixConn
	// ctx ends when the connection stops reading (shutdown) or must
	// close: a frame waiting for memory budget stops waiting.
	ctx    context.Context
	cancel context.CancelFunc
	// reqCtx is the context of the connection's requests: it ends when
	// the peer is gone (a failed write, or a hang-up seen at EOF), so
	// that a request still waiting for the TPM leaves the queue, and when
	// a shutdown runs out of time.
	reqCtx    context.Context
	reqCancel context.CancelFunc
	br        *wipeReader
	sess      *core.Session // nil only for a connection being refused
	sem       chan struct{}
	// role passes the reader role; closed when the connection ends. The
	// fields below it are guarded by the role: only the goroutine that
	// holds it reads or writes them (the channel hand-off orders them).
	role    chan struct{}
	hello   bool // a Hello was answered OK
	workers int  // goroutines started

	inflight  sync.WaitGroup
	inflightN atomic.Int32
	stopping  atomic.Bool
	w         *frameWriter
}

func newConn(s *Server, base context.Context, nc *net.UnixConn, sess *core.Session) *conn {
	ctx, cancel := context.WithCancel(base)
	reqCtx, reqCancel := context.WithCancel(base)
	c := &conn{
		s: s, nc: nc, ctx: ctx, cancel: cancel, reqCtx: reqCtx, reqCancel: reqCancel,
		br: newWipeReader(nc, 4096), sess: sess,
		sem:  make(chan struct{}, max(1, s.core.Limits().MaxInflightPerConn)),
		role: make(chan struct{}),
	}
	// A peer that does not read its responses loses its connection, and
	// its requests still waiting stop waiting.
	c.w = newFrameWriter(nc, func() time.Duration { return s.core.Limits().ReadTimeout.Duration },
		func() { c.reqCancel(); c.nc.Close() })
	return c
}

// job is one request, read by the reader, to run on a worker.
type job struct {
	h       protocol.RequestHeader
	body    []byte
	frame   *[]byte // the pooled buffer holding the frame
	release func()  // the frame's memory budget
}

// Serve runs the connection until the peer leaves, a frame is bad, or the
// daemon stops; then it waits for the connection's requests and closes it.
func (c *conn) Serve() {
	c.workers = 1
	c.worker(true)
	c.finish()
}

// worker takes the reader role whenever it is free, reads until a request
// is admitted, passes the role on and runs the request. It returns when
// the connection ends.
func (c *conn) worker(reader bool) {
	for {
		if !reader {
			if _, ok := <-c.role; !ok {
				return
			}
		}
		reader = false
		j, ok := c.readJob()
		if !ok {
			close(c.role) // idle goroutines leave; busy ones after their request
			return
		}
		c.passRole()
		c.runJob(j)
	}
}

// readJob reads frames until one is admitted as a job; ok is false when
// the connection must end.
func (c *conn) readJob() (j job, ok bool) {
	for {
		frame, release, err := c.readFrame(c.s.core.Limits())
		if err != nil {
			c.readFailed(err)
			return job{}, false
		}
		j, isJob, keep := c.handleFrame(frame, release)
		if !keep || isJob {
			return j, keep
		}
	}
}

// passRole hands the reader role to an idle goroutine, or to a new one.
func (c *conn) passRole() {
	select {
	case c.role <- struct{}{}:
		return
	default:
	}
	if c.workers <= cap(c.sem) {
		c.workers++
		go c.worker(true)
		return
	}
	// All cap+1 goroutines exist; this one and at most cap-1 others hold
	// a request slot, so one is idle or about to be.
	c.role <- struct{}{}
}

func (c *conn) finish() {
	c.inflight.Wait()
	c.cancel()
	c.reqCancel()
	c.nc.Close()
}

// readFrame waits up to IdleTimeout for a frame to start (longer while
// requests are in flight), takes the memory budget for the length it
// declares (waiting, unread, while the owner or everyone holds too much),
// then gives the whole frame ReadTimeout. release returns the budget. The
// frame is read into a pooled buffer at once, its length being within the
// budget held.
func (c *conn) readFrame(lim core.Limits) (frame *[]byte, release func(), err error) {
	for {
		c.nc.SetReadDeadline(deadline(lim.IdleTimeout.Duration))
		if c.stopping.Load() {
			return nil, nil, errStopping
		}
		_, err := c.br.Peek(1)
		if err == nil {
			break
		}
		if isTimeout(err) && !c.stopping.Load() && c.inflightN.Load() > 0 {
			continue
		}
		return nil, nil, err
	}
	c.nc.SetReadDeadline(deadline(lim.ReadTimeout.Duration))
	release = func() {}
	held := 0
	if prefix, err := c.br.Peek(protocol.LengthPrefixSize); err == nil {
		if n := binary.BigEndian.Uint32(prefix); n > 0 && n <= lim.MaxFrameSize {
			held = int(n)
			var waited bool
			if release, waited, err = c.sess.HoldFrame(c.ctx, int(n)); err != nil {
				return nil, nil, errStopping
			}
			if waited { // the frame's time starts when it may be read
				c.nc.SetReadDeadline(deadline(lim.ReadTimeout.Duration))
			}
		}
	}
	frame, err = protocol.ReadFrameBuffer(c.br, lim.MaxFrameSize, &c.s.pool, held)
	c.br.Wipe() // the frame is in its buffer now, cleared after its answer
	if err != nil {
		release()
		return nil, nil, err
	}
	return frame, release, nil
}

// readFailed answers a frame that cannot be read (zero or oversized
// length) where the peer can still be told why; the connection then closes.
func (c *conn) readFailed(err error) {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		c.respond(protocol.RequestHeader{}, pe.Status, &protocol.ErrorBody{Message: pe.Message}, false)
	}
	if errors.Is(err, io.EOF) && peerHungUp(c.nc) {
		c.reqCancel() // nobody will read the answers still to come
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, errStopping) {
		c.s.log.Debug("connection closed", "uid", c.sess.Caller().UID, "pid", c.sess.Caller().PID, "reason", err)
	}
}

// handleFrame parses payload and makes it a job (isJob), or answers it
// here; keep is false when the connection must close. Hello, and
// anything before it, runs here so that the next frame sees the
// negotiated state.
func (c *conn) handleFrame(frame *[]byte, release func()) (j job, isJob, keep bool) {
	payload := *frame
	h, body, err := protocol.ParseRequest(payload)
	if len(payload) < protocol.RequestHeaderSize {
		release()
		c.s.pool.Put(frame)
		c.respond(h, protocol.StatusBadRequest, &protocol.ErrorBody{Message: "frame shorter than a header"}, false)
		return job{}, false, false
	}
	if err == nil && !c.hello && h.Op != protocol.OpHello {
		err = protocol.Errorf(protocol.StatusBadRequest, "Hello must be the first request")
	}
	if err != nil || h.Op == protocol.OpHello {
		// A well-framed request with a bad header (unknown op, version)
		// gets its answer; the connection stays.
		st, keep := c.run(h, body, frame, err)
		release()
		if h.Op == protocol.OpHello && st == protocol.StatusOK {
			c.hello = true
		}
		return job{}, false, keep
	}
	c.sem <- struct{}{} // blocks reading while the connection is full
	c.inflight.Add(1)
	c.inflightN.Add(1)
	return job{h: h, body: body, frame: frame, release: release}, true, true
}

func (c *conn) runJob(j job) {
	defer func() {
		<-c.sem
		c.inflightN.Add(-1)
		c.inflight.Done()
	}()
	defer j.release()
	if _, keep := c.run(j.h, j.body, j.frame, nil); !keep {
		c.stopReading()
	}
}

// run translates one frame into a Call, has the core serve it, and
// writes the answer. refused is the front end's own verdict on the frame
// (a bad header, a request before Hello), which the core answers and
// audits like any request. frame, the buffer body is in, goes back to the
// pool once Finish has cleared body: the header left in it is no secret.
func (c *conn) run(h protocol.RequestHeader, body []byte, frame *[]byte, refused error) (st protocol.Status, keep bool) {
	call := &core.Call{Op: h.Op, Body: body, Refused: refused}
	res := c.sess.Do(c.reqCtx, call)
	resp := res.Resp
	if res.Status != protocol.StatusOK {
		resp = &protocol.ErrorBody{Message: res.Message}
	}
	if res.Status == protocol.StatusOK && call.Frame != nil {
		c.respondIn(call.Frame, h, resp, call.Sensitive)
	} else {
		c.respond(h, res.Status, resp, call.Sensitive)
	}
	call.Finish()
	c.s.pool.PutClean(frame)
	return res.Status, !res.Close
}

// respond encodes outside any lock, into a pooled buffer of the exact size
// where it is known, then writes the frame in one call. A sensitive
// response is cleared once written.
func (c *conn) respond(h protocol.RequestHeader, status protocol.Status, body any, sensitive bool) {
	size := protocol.ResponseFrameSize(body)
	if size == 0 {
		size = respBufSize
	}
	bp := c.s.pool.Get(size)
	rh := protocol.ResponseHeader{Version: protocol.Version1, Op: h.Op, ID: h.ID, Status: status}
	out, err := protocol.AppendResponse((*bp)[:0], rh, body)
	if err != nil {
		c.s.log.Error("encoding response", "op", h.Op, "err", err)
		clear((*bp)[:cap(*bp)]) // a partial encoding may be in it
		rh.Status = protocol.StatusInternal
		out, err = protocol.AppendResponse(out[:0], rh, &protocol.ErrorBody{Message: "internal error"})
	}
	if limit := int(c.s.core.Limits().MaxFrameSize); err == nil && len(out)-protocol.LengthPrefixSize > limit {
		// The server never sends more than it announced (docs §2): an
		// error keeps its status with a short message, a result that does
		// not fit becomes INTERNAL. ListKeys pages are cut to fit before.
		c.s.log.Warn("response over the frame limit", "op", h.Op.String(), "status", rh.Status.String(), "bytes", len(out))
		clear(out)
		if rh.Status == protocol.StatusOK {
			rh.Status = protocol.StatusInternal
		}
		out, err = protocol.AppendResponse(out[:0], rh, &protocol.ErrorBody{Message: "response over the frame limit"})
	}
	if err == nil {
		c.write(out)
	}
	c.putResponse(bp, out, sensitive)
}

// respondIn is respond for an OK response whose data the core already put
// in its frame, frame (Call.Frame): encoded around it, and written. The
// core clears and reuses frame; should the encoding not fit in it after
// all, respond's own buffer serves.
func (c *conn) respondIn(frame *[]byte, h protocol.RequestHeader, body any, sensitive bool) {
	rh := protocol.ResponseHeader{Version: protocol.Version1, Op: h.Op, ID: h.ID, Status: protocol.StatusOK}
	out, err := protocol.AppendResponse((*frame)[:0], rh, body)
	limit := int(c.s.core.Limits().MaxFrameSize)
	if err != nil || len(out)-protocol.LengthPrefixSize > limit || cap(out) == 0 || &out[:1][0] != &(*frame)[:1][0] {
		if err == nil && cap(out) > 0 && &out[:1][0] != &(*frame)[:1][0] && sensitive {
			clear(out) // outgrown into a new array, which the core does not clear
		}
		c.respond(h, protocol.StatusOK, body, sensitive)
		return
	}
	c.write(out)
}

// putResponse returns a response's buffer to the pool, cleared when the
// response held a secret (once: past len(out) the buffer holds what the
// pool gave, no secret). out is the encoding, which may have outgrown bp
// into a new array; the old array of a sensitive one is cleared too.
func (c *conn) putResponse(bp *[]byte, out []byte, sensitive bool) {
	if cap(out) > 0 && cap(*bp) > 0 && &out[:1][0] != &(*bp)[:1][0] {
		if sensitive {
			clear((*bp)[:cap(*bp)])
		}
		*bp = out
	}
	if sensitive {
		clear(out)
	}
	c.s.pool.PutClean(bp)
}

func (c *conn) write(frame []byte) { c.w.write(frame) }

// refuse answers a connection the core did not admit, then closes it.
func (c *conn) refuse(status protocol.Status, msg string) {
	c.respond(protocol.RequestHeader{}, status, &protocol.ErrorBody{Message: msg}, false)
	c.nc.Close()
}

// stopReading makes the reader return at once; requests in flight finish.
// stopping is set before the deadline, and the reader checks it after
// setting its own, so the reader cannot miss it.
func (c *conn) StopReading() { c.stopReading() }

func (c *conn) stopReading() {
	c.cancel()
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Unix(1, 0))
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
