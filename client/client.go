package client

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Client is a connection to tpmkeyd. It is safe for concurrent use; calls
// made from several goroutines are pipelined over the one connection.
type Client struct {
	conn *net.UnixConn
	info ServerInfo
	// maxFrame bounds the frames read from and written to the server.
	maxFrame atomic.Uint32
	nextID   atomic.Uint32

	// Writers encode outside wmu, then copy their frame into bw under it.
	// The last writer in a burst flushes: waiting counts writers queued on
	// wmu, so a writer that sees others waiting leaves the flush to them.
	wmu     sync.Mutex
	bw      *bufio.Writer
	waiting atomic.Int32

	pmu     sync.Mutex
	pending map[uint32]chan response // nil once the connection is dead
	err     error                    // why the connection is dead; wraps ErrConnectionClosed

	// There is no reader goroutine: a waiting call that takes rtok reads
	// responses, handing other calls theirs, until its own arrives. A
	// lone call thus reads its own response, with no goroutine to wake
	// (on a 2-core machine that wake-up cost ~30 µs per call).
	rtok chan struct{} // holding the one token: allowed to read br
	br   *bufio.Reader
	rd   readState

	closeOnce sync.Once
	bufs      protocol.BufferPool // request and response frames, cleared on return
	replies   sync.Pool           // chan response, buffered 1, known empty
}

// response is what the reader hands to a waiting call.
type response struct {
	hdr   protocol.ResponseHeader
	body  []byte
	frame *[]byte // the pooled buffer body is in; the call returns it
	err   error
}

// Dial connects to the agent at socketPath (empty: $TPMKEY_SOCKET, else
// DefaultSocket), checks that the server is trusted, and says Hello.
//
// Trusted are root, the packaged service user ServiceUser where that user
// exists, and the uids the options add. What the check looks at is the
// socket's listen-time credentials (see ServerInfo): the daemon's own uid
// when it bound the socket itself, the service manager's (root) under socket
// activation.
func Dial(ctx context.Context, socketPath string, opts ...Option) (*Client, error) {
	if socketPath == "" {
		socketPath = os.Getenv(SocketEnv)
	}
	if socketPath == "" {
		socketPath = DefaultSocket
	}
	var o dialOptions
	for _, f := range opts {
		if err := f(&o); err != nil {
			return nil, fmt.Errorf("client.Dial: %w", err)
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("client.Dial: %w", err)
	}
	conn := nc.(*net.UnixConn)
	uid, pid, err := peerCred(conn)
	if err == nil && !o.trusts(uid) {
		err = fmt.Errorf("%w: %s: the process that set it listening ran as uid %d (pid %d), which is not root, the service user %s or a uid you trust",
			ErrUntrustedServer, socketPath, uid, pid, ServiceUser)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("client.Dial: %w", err)
	}
	c := newClient(conn)
	c.info.UID, c.info.PID = uid, pid
	if err := c.hello(ctx, o.clientName); err != nil {
		c.Close()
		return nil, fmt.Errorf("client.Dial: %w", err)
	}
	return c, nil
}

func newClient(conn *net.UnixConn) *Client {
	c := &Client{
		conn:    conn,
		bw:      bufio.NewWriterSize(conn, 64<<10),
		pending: make(map[uint32]chan response),
		rtok:    make(chan struct{}, 1),
		br:      bufio.NewReaderSize(conn, 64<<10),
	}
	c.maxFrame.Store(protocol.DefaultMaxFrameSize)
	c.replies.New = func() any { return make(chan response, 1) }
	return c
}

func (c *Client) hello(ctx context.Context, name string) error {
	req := protocol.HelloRequest{Versions: []uint{protocol.Version1}, Client: name}
	var resp protocol.HelloResponse
	if err := c.roundTrip(ctx, protocol.OpHello, &req, &resp); err != nil {
		return err
	}
	if resp.Version != protocol.Version1 {
		return fmt.Errorf("%w: server chose protocol version %d, want %d", ErrProtocol, resp.Version, protocol.Version1)
	}
	if resp.MaxFrameSize > 0 {
		c.maxFrame.Store(resp.MaxFrameSize)
	}
	c.info.Version = resp.Version
	c.info.AgentVersion = resp.AgentVersion
	c.info.TPMManufacturer = resp.TPMManufacturer
	c.info.TPMFirmware = resp.TPMFirmware
	c.info.Algorithms = resp.Algorithms
	c.info.Operations = resp.Operations
	c.info.MaxFrameSize = resp.MaxFrameSize
	return nil
}

// ServerInfo returns what the agent said in Hello, and its peer credentials.
func (c *Client) ServerInfo() ServerInfo { return c.info }

// Close closes the connection. Calls still waiting fail with an error that
// wraps ErrConnectionClosed, and so does every later call.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.pmu.Lock()
		if c.err == nil {
			c.err = fmt.Errorf("%w: closed by the client", ErrConnectionClosed)
		}
		c.pmu.Unlock()
		err = c.conn.Close()
		c.fail(net.ErrClosed) // keeps the error set above
	})
	return err
}

// fail marks the connection dead and fails every pending call.
func (c *Client) fail(cause error) {
	c.pmu.Lock()
	if c.err == nil {
		c.err = fmt.Errorf("%w: %w", ErrConnectionClosed, cause)
	}
	pending, err := c.pending, c.err
	c.pending = nil
	c.pmu.Unlock()
	for _, ch := range pending {
		ch <- response{err: err}
	}
	c.conn.Close()
}
