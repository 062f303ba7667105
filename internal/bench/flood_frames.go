package bench

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// bigFrames keeps cfg.FrameDepth Sign requests with a message of about
// the largest frame in flight on each of cfg.FrameConns raw connections,
// while cfg.BusyKeygens keygens are kept queued on another connection so
// that the TPM is busy and the frames pile up. Raw frames, because
// client.Sign sends only digests; the daemon hashes a message itself.
func (f *flooder) bigFrames(ctx context.Context, started func()) (FlooderResult, error) {
	c, err := f.dial(ctx)
	if err != nil {
		return FlooderResult{}, err
	}
	defer c.Close()
	if err := ensureKey(ctx, c, flooderKey); err != nil {
		return FlooderResult{}, err
	}
	frame, err := bigSignFrame(c.ServerInfo().MaxFrameSize)
	if err != nil {
		return FlooderResult{}, err
	}
	conns := make([]*frameConn, 0, f.cfg.FrameConns)
	defer func() {
		for _, fc := range conns {
			fc.conn.Close()
		}
	}()
	for range f.cfg.FrameConns {
		fc, err := dialFrames(ctx, f.job.Socket)
		if err != nil {
			return FlooderResult{}, err
		}
		conns = append(conns, fc)
	}
	tr := newTracker()
	end := time.Now().Add(f.cfg.FrameFor)
	started()
	var (
		wg   sync.WaitGroup
		gen  atomic.Int64
		mu   sync.Mutex
		errs []error
	)
	for range f.cfg.BusyKeygens {
		wg.Go(func() {
			for time.Now().Before(end) && ctx.Err() == nil {
				_, err := c.GenerateKey(ctx, f.alias(gen.Add(1)), client.Algorithm(f.cfg.KeygenAlg))
				tr.record(err)
			}
		})
	}
	for _, fc := range conns {
		wg.Go(func() {
			if err := fc.flood(ctx, frame, f.cfg.FrameDepth, end, tr); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return FlooderResult{}, errs[0]
	}
	return tr.result(), ctx.Err()
}

// bigSignFrame is a Sign request of the flooder's key whose frame is as
// large as maxFrame allows (1 MiB by default): a message of about that
// size, which the daemon must hold and hash.
func bigSignFrame(maxFrame uint32) ([]byte, error) {
	if maxFrame == 0 {
		maxFrame = protocol.DefaultMaxFrameSize
	}
	msg := make([]byte, int(maxFrame)-128)
	for i := range msg {
		msg[i] = byte(i)
	}
	frame, err := protocol.AppendRequest(nil, protocol.RequestHeader{Op: protocol.OpSign, ID: 1},
		&protocol.SignRequest{Alias: flooderKey, Message: msg, Hash: protocol.HashSHA256})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if n := len(frame) - protocol.LengthPrefixSize; n > int(maxFrame) {
		return nil, fmt.Errorf("bench: sign frame of %d bytes exceeds the limit %d", n, maxFrame)
	}
	return frame, nil
}

// frameConn is a connection that speaks raw frames.
type frameConn struct {
	conn net.Conn
	br   *bufio.Reader
}

func dialFrames(ctx context.Context, socket string) (*frameConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", socket, err)
	}
	fc := &frameConn{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}
	hello, err := protocol.AppendRequest(nil, protocol.RequestHeader{Op: protocol.OpHello, ID: 1},
		&protocol.HelloRequest{Versions: []uint{protocol.Version1}, Client: "tpmkey-bench-flooder"})
	if err == nil {
		_, err = conn.Write(hello)
	}
	var h protocol.ResponseHeader
	if err == nil {
		h, err = fc.read()
	}
	if err == nil && h.Status != protocol.StatusOK {
		err = fmt.Errorf("Hello: %v", h.Status)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bench: raw Hello: %w", err)
	}
	return fc, nil
}

func (fc *frameConn) read() (protocol.ResponseHeader, error) {
	payload, err := protocol.ReadFrame(fc.br, protocol.DefaultMaxFrameSize)
	if err != nil {
		return protocol.ResponseHeader{}, err
	}
	h, _, err := protocol.ParseResponse(payload)
	return h, err
}

// drainTimeout bounds how long the answers to the last frames may take.
const drainTimeout = 2 * time.Minute

// flood sends frame (with a fresh request id each time) until end,
// keeping at most depth unanswered, then waits for every answer. The
// daemon closing the connection ends it early; that is a result, recorded
// as CONNECTION_CLOSED.
func (fc *frameConn) flood(ctx context.Context, frame []byte, depth int, end time.Time, tr *tracker) error {
	frame = append([]byte(nil), frame...) // the id is patched in place
	slots := make(chan struct{}, depth)
	readerGone := make(chan struct{})
	go func() {
		defer close(readerGone)
		for {
			h, err := fc.read()
			if err != nil {
				return
			}
			tr.recordStatus(h.Status.String(), nil)
			select {
			case <-slots:
			default: // an answer nobody asked for, such as BUSY with id 0
			}
		}
	}()
	closed := false
	for id := uint32(2); time.Now().Before(end) && ctx.Err() == nil && !closed; id++ {
		select {
		case slots <- struct{}{}:
		case <-readerGone:
			closed = true
			continue
		case <-ctx.Done():
			continue
		}
		binary.BigEndian.PutUint32(frame[protocol.LengthPrefixSize+4:], id)
		_ = fc.conn.SetWriteDeadline(end.Add(drainTimeout))
		if _, err := fc.conn.Write(frame); err != nil {
			closed = true
		}
	}
	// Every slot back means every frame sent has been answered.
	timeout := time.After(time.Until(end.Add(drainTimeout)))
	for range depth {
		select {
		case slots <- struct{}{}:
		case <-readerGone:
			tr.recordStatus("CONNECTION_CLOSED", errors.New("the daemon closed the connection"))
			return nil
		case <-timeout:
			fc.conn.Close()
			return fmt.Errorf("bench: answers to 1 MiB frames still missing %s after the flood", drainTimeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fc.conn.Close()
	<-readerGone
	return nil
}
