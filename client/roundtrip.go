package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// maxPooledFrame keeps the odd huge request buffer out of the pool.
const maxPooledFrame = 64 << 10

// roundTrip sends req as op and decodes the matching response into resp.
func (c *Client) roundTrip(ctx context.Context, op protocol.Op, req, resp any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	id := c.nextID.Add(1)
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
	select {
	case r := <-ch:
		c.replies.Put(ch)
		return finish(op, r, resp)
	case <-ctx.Done():
		// If the reader already took ch, a reply may still land in it: let
		// the channel go rather than pool it.
		if c.forget(id) {
			c.replies.Put(ch)
		}
		return ctx.Err()
	}
}

// forget removes id from the pending calls; it reports whether it was there.
func (c *Client) forget(id uint32) bool {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	_, ok := c.pending[id]
	delete(c.pending, id)
	return ok
}

// send encodes one request frame, then queues it on the connection.
func (c *Client) send(h protocol.RequestHeader, body any) error {
	bp := c.frames.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledFrame {
			c.frames.Put(bp)
		}
	}()
	frame, err := protocol.AppendRequest((*bp)[:0], h, body)
	*bp = frame
	if err != nil {
		return fmt.Errorf("protocol.AppendRequest: %w", err)
	}
	if n := len(frame) - 4; n > int(c.maxFrame.Load()) {
		return fmt.Errorf("%w: request of %d bytes, server limit %d", ErrFrameTooLarge, n, c.maxFrame.Load())
	}
	return c.write(frame)
}

// write copies frame into the buffered writer, and flushes unless another
// writer is already queued behind this one (it will flush both).
func (c *Client) write(frame []byte) error {
	c.waiting.Add(1)
	c.wmu.Lock()
	c.waiting.Add(-1)
	_, err := c.bw.Write(frame)
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

// finish turns a response into resp or into the server's error.
func finish(op protocol.Op, r response, resp any) error {
	if r.err != nil {
		return fmt.Errorf("%s: %w", op, r.err)
	}
	if r.hdr.Op != op {
		return fmt.Errorf("%w: %s answered with opcode %s", ErrProtocol, op, r.hdr.Op)
	}
	if r.hdr.Status != protocol.StatusOK {
		return protocol.DecodeResponse(r.hdr, r.body, resp)
	}
	if err := protocol.DecodeBody(r.body, resp); err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return fmt.Errorf("%w: %s response: %s", ErrProtocol, op, pe.Message)
		}
		return fmt.Errorf("%w: %s response: %w", ErrProtocol, op, err)
	}
	return nil
}
