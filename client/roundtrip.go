package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// reqBufSize is the first buffer of a request whose size is not known
// before encoding; it grows as needed.
const reqBufSize = 512

// roundTrip sends req as op and decodes the matching response into resp.
func (c *Client) roundTrip(ctx context.Context, op protocol.Op, req, resp any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := c.nextID.Add(1)
	if id == 0 { // the server refuses id 0; after 2^32 requests the counter wraps
		id = c.nextID.Add(1)
	}
	ch := c.replies.Get().(chan response)
	c.pmu.Lock()
	if c.pending == nil {
		err := c.err
		c.pmu.Unlock()
		c.replies.Put(ch)
		return fmt.Errorf("%s: %w", op, err)
	}
	c.pending[id] = ch
	c.pmu.Unlock()

	if err := c.send(protocol.RequestHeader{Version: protocol.Version1, Op: op, ID: id}, req); err != nil {
		if c.forget(id) {
			c.replies.Put(ch)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	r, err := c.await(ctx, ch)
	if err != nil {
		// If a reader already took ch, a reply may still land in it: let
		// the channel go rather than pool it.
		if c.forget(id) {
			c.replies.Put(ch)
		}
		return err
	}
	c.replies.Put(ch)
	aliased, err := finish(op, r, resp)
	if !aliased && r.frame != nil { // decoding copied what resp keeps; the frame is cleared
		clear(*r.frame) // the frame was read within its length; past it is what the pool gave
		c.bufs.PutClean(r.frame)
	}
	return err
}

// await waits for the response in ch, reading the connection itself
// whenever no other call is.
func (c *Client) await(ctx context.Context, ch chan response) (response, error) {
	for {
		if err := ctx.Err(); err != nil {
			select {
			case r := <-ch:
				return r, nil
			default:
				return response{}, err
			}
		}
		select {
		case r := <-ch:
			return r, nil
		case <-ctx.Done():
			return response{}, ctx.Err()
		case c.rtok <- struct{}{}:
			r, ok := c.readUntil(ctx, ch)
			<-c.rtok // a waiting call takes over, if any
			if ok {
				return r, nil
			}
		}
	}
}

// readUntil reads responses and hands them to their calls until ch has
// one (ok) or ctx ends (not ok). A broken connection fails every call,
// ch's included.
func (c *Client) readUntil(ctx context.Context, ch chan response) (response, bool) {
	gen := c.rd.begin(c.conn)
	stop := context.AfterFunc(ctx, func() { c.rd.interrupt(c.conn, gen) })
	defer stop()
	for {
		select {
		case r := <-ch:
			return r, true
		default:
		}
		frame, err := c.rd.readFrame(c.br, c.maxFrame.Load(), &c.bufs)
		if errors.Is(err, errInterrupted) {
			return response{}, false
		}
		if err != nil {
			c.fail(err)
			continue // ch has its error now
		}
		hdr, body, err := protocol.ParseResponse(*frame)
		if err != nil {
			c.bufs.Put(frame)
			c.fail(fmt.Errorf("protocol.ParseResponse: %w", err))
			continue
		}
		c.pmu.Lock()
		dst, ok := c.pending[hdr.ID]
		delete(c.pending, hdr.ID)
		c.pmu.Unlock()
		if ok { // else the call gave up (cancelled): drop the response
			dst <- response{hdr: hdr, body: body, frame: frame}
		} else {
			c.bufs.Put(frame)
		}
	}
}

// errInterrupted: the reading call's context ended between frames; the
// stream is intact and another call may read on.
var errInterrupted = errors.New("read interrupted")

// readState lets a reading call's cancellation cut the wait for the next
// frame without ever cutting a frame in half.
type readState struct {
	mu          sync.Mutex
	gen         uint64 // which reading session is current
	interrupted bool   // the current session's context ended
	inFrame     bool   // a frame has started arriving
	deadlineSet bool   // an interrupt set a read deadline in the past
}

// begin starts a reading session and returns its number.
func (s *readState) begin(conn *net.UnixConn) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.interrupted, s.inFrame = false, false
	if s.deadlineSet {
		conn.SetReadDeadline(time.Time{})
		s.deadlineSet = false
	}
	return s.gen
}

// interrupt wakes session gen's read, unless a frame is under way (the
// session then notices at the next frame).
func (s *readState) interrupt(conn *net.UnixConn, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	s.interrupted = true
	if !s.inFrame {
		conn.SetReadDeadline(time.Unix(1, 0))
		s.deadlineSet = true
	}
}

func (s *readState) readFrame(br *bufio.Reader, maxFrame uint32, pool *protocol.BufferPool) (*[]byte, error) {
	_, err := br.Peek(1) // consumes nothing: safe to abandon
	s.mu.Lock()
	if s.interrupted {
		s.mu.Unlock()
		return nil, errInterrupted
	}
	s.inFrame = err == nil
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	// The buffer is taken whole (reserved: the limit): the server passed
	// the trust check at Dial, and growing a megabyte buffer as the data
	// arrives costs as much again in copies.
	frame, err := protocol.ReadFrameBuffer(br, maxFrame, pool, int(maxFrame))
	s.mu.Lock()
	s.inFrame = false
	s.mu.Unlock()
	return frame, err
}

// forget removes id from the pending calls; it reports whether it was there.
func (c *Client) forget(id uint32) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	_, ok := c.pending[id]
	delete(c.pending, id)
	return ok
}

// send encodes one request frame into a pooled buffer (of the exact size
// where it is known), queues it on the connection, and clears it: a
// request may carry a PIN or a plaintext.
func (c *Client) send(h protocol.RequestHeader, body any) error {
	size := protocol.RequestFrameSize(body)
	if size == 0 {
		size = reqBufSize
	}
	bp := c.bufs.Get(size)
	frame, tail, err := protocol.AppendRequestSplit((*bp)[:0], h, body)
	if err != nil {
		c.bufs.Put(bp) // a partial encoding may be in it
		return fmt.Errorf("protocol.AppendRequest: %w", err)
	}
	defer func() {
		clear(frame)
		if cap(frame) > 0 && &frame[:1][0] != &(*bp)[:1][0] { // outgrown
			c.bufs.Put(bp)
			bp = &frame
		}
		c.bufs.PutClean(bp) // cleared: past len(frame) it holds what the pool gave
	}()
	if n := len(frame) + len(tail) - 4; n > int(c.maxFrame.Load()) {
		return fmt.Errorf("%w: request of %d bytes, server limit %d", ErrFrameTooLarge, n, c.maxFrame.Load())
	}
	return c.write(frame, tail)
}

// write copies frame into the buffered writer, and flushes unless another
// writer is already queued behind this one (it will flush both).
// tail, when not empty, is the rest of the frame: a large one goes to the
// socket straight from the caller's slice (bufio writes it through).
func (c *Client) write(frame, tail []byte) error {
	c.waiting.Add(1)
	c.wmu.Lock()
	c.waiting.Add(-1)
	_, err := c.bw.Write(frame)
	if err == nil && len(tail) > 0 {
		_, err = c.bw.Write(tail)
	}
	if err == nil && c.waiting.Load() == 0 {
		err = c.bw.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		c.fail(err)
		c.pmu.Lock()
		err = c.err
		c.pmu.Unlock()
	}
	return err
}

// finish turns a response into resp or into the server's error. aliased:
// resp's data is a slice of r's frame buffer, which now belongs to it.
func finish(op protocol.Op, r response, resp any) (aliased bool, err error) {
	if r.err != nil {
		return false, fmt.Errorf("%s: %w", op, r.err)
	}
	if r.hdr.Op != op {
		return false, fmt.Errorf("%w: %s answered with opcode %s", ErrProtocol, op, r.hdr.Op)
	}
	if r.hdr.Status != protocol.StatusOK {
		return false, protocol.DecodeResponse(r.hdr, r.body, resp)
	}
	aliased, err = protocol.DecodeBodyAliased(r.body, resp)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return aliased, fmt.Errorf("%w: %s response: %s", ErrProtocol, op, pe.Message)
		}
		return aliased, fmt.Errorf("%w: %s response: %w", ErrProtocol, op, err)
	}
	return aliased, nil
}
