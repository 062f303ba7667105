package client

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// fakeRequest is one request a fakeServer received.
type fakeRequest struct {
	hdr  protocol.RequestHeader
	body []byte
}

// fakeServer speaks the framing on a Unix socket and hands every request
// after Hello to handle, which answers through reply (from any goroutine,
// in any order) or not at all.
type fakeServer struct {
	t      testing.TB
	path   string
	ln     net.Listener
	handle func(s *fakeConn, req fakeRequest)
	wg     sync.WaitGroup
}

// fakeConn is one accepted connection of a fakeServer.
type fakeConn struct {
	conn net.Conn
	mu   sync.Mutex
}

func startFake(t testing.TB, handle func(*fakeConn, fakeRequest)) *fakeServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "tpmkey-client")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("net.Listen: %v", err)
	}
	s := &fakeServer{t: t, path: path, ln: ln, handle: handle}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer nc.Close()
			s.serve(&fakeConn{conn: nc})
		}()
	}
}

func (s *fakeServer) serve(fc *fakeConn) {
	br := bufio.NewReader(fc.conn)
	for {
		payload, err := protocol.ReadFrame(br, 0)
		if err != nil {
			return
		}
		h, body, err := protocol.ParseRequest(payload)
		if err != nil {
			return
		}
		if h.Op == protocol.OpHello {
			fc.reply(h, &protocol.HelloResponse{Version: 1, AgentVersion: "fake", MaxFrameSize: protocol.DefaultMaxFrameSize})
			continue
		}
		s.handle(fc, fakeRequest{hdr: h, body: body})
	}
}

// reply answers h with body, or with an error when body is a *protocol.Error.
func (fc *fakeConn) reply(h protocol.RequestHeader, body any) {
	var frame []byte
	var err error
	if e, ok := body.(*protocol.Error); ok {
		frame, err = protocol.AppendErrorResponse(nil, h, e)
	} else {
		frame, err = protocol.AppendResponse(nil, protocol.ResponseHeader{Version: 1, Op: h.Op, ID: h.ID}, body)
	}
	if err != nil {
		panic(err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.conn.Write(frame)
}

// dialFake connects to s, trusting the test's own uid.
func dialFake(t *testing.T, s *fakeServer) *Client {
	t.Helper()
	c, err := Dial(context.Background(), s.path, WithTrustSameUser())
	if err != nil {
		t.Fatalf("Dial(%s) = %v", s.path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
