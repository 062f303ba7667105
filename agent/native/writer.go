package native

import (
	"net"
	"sync"
	"time"
)

// Coalescing limits: a response of at most maxCoalesce bytes that
// completes while another is being written is copied into the queue and
// goes out with the next write; the queue holds at most maxQueue bytes.
const (
	maxCoalesce = 16 << 10
	maxQueue    = 64 << 10
)

// frameWriter writes a connection's response frames, each whole and in
// one piece. Responses that complete while a write is in the kernel wait
// in a queue and leave together in the next write, the writing goroutine
// writing until the queue is empty: with requests pipelined on one
// connection, many responses cost one system call. The queue is cleared
// after each write (a response may hold a secret). A frame too large to
// queue, or one arriving when the queue is full, waits for the writer.
type frameWriter struct {
	nc      *net.UnixConn
	timeout func() time.Duration // the write deadline, per write
	failed  func()               // the write failed: the peer is gone

	mu      sync.Mutex // guards the fields below
	idle    sync.Cond  // signalled when writing ends
	writing bool
	broken  bool
	queue   []byte // frames to write next
	spare   []byte // the other queue buffer, cleared
}

func newFrameWriter(nc *net.UnixConn, timeout func() time.Duration, failed func()) *frameWriter {
	w := &frameWriter{nc: nc, timeout: timeout, failed: failed}
	w.idle.L = &w.mu
	return w
}

// write writes frame, or queues it for the writer in flight; frame is the
// caller's again on return.
func (w *frameWriter) write(frame []byte) {
	w.mu.Lock()
	for w.writing && !w.broken && (len(frame) > maxCoalesce || len(w.queue)+len(frame) > maxQueue) {
		w.idle.Wait()
	}
	if w.broken {
		w.mu.Unlock()
		return
	}
	if w.writing {
		w.queue = append(w.queue, frame...)
		w.mu.Unlock()
		return
	}
	w.writing = true
	w.mu.Unlock()

	ok := w.send(frame)
	w.mu.Lock()
	for ok && len(w.queue) > 0 {
		q := w.queue
		w.queue, w.spare = w.spare[:0], nil
		w.mu.Unlock()
		ok = w.send(q)
		clear(q)
		w.mu.Lock()
		w.spare = q[:0]
	}
	if !ok {
		w.broken = true
		clear(w.queue)
		w.queue = nil
	}
	w.writing = false
	w.idle.Broadcast()
	w.mu.Unlock()
	if !ok {
		w.failed()
	}
}

func (w *frameWriter) send(b []byte) bool {
	if d := w.timeout(); d > 0 {
		w.nc.SetWriteDeadline(time.Now().Add(d))
	} else {
		w.nc.SetWriteDeadline(time.Time{})
	}
	_, err := w.nc.Write(b)
	return err == nil
}
