//go:build linux

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/internal/syncbuf"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// syncBuffer is a goroutine-safe log sink that can read back audit records.
type syncBuffer struct{ syncbuf.Buffer }

// auditLines returns the JSON audit records written so far.
func (b *syncBuffer) auditLines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// testDaemon is an in-process daemon on a private swtpm.
type testDaemon struct {
	t      *testing.T
	sw     *swtpmtest.Instance
	d      *Daemon
	opts   Options
	socket string
	logs   *syncBuffer
	audit  *syncBuffer
	done   chan error
}

// shortDir is a temp dir with a short path: a socket path has 108 bytes.
func shortDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "tk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// testOptions are the Options of a daemon on sw, with a config file
// holding cfgBody ("" for none).
func testOptions(t *testing.T, sw *swtpmtest.Instance, cfgBody string) (Options, *syncBuffer, *syncBuffer) {
	t.Helper()
	dir := shortDir(t)
	logs, audit := &syncBuffer{}, &syncBuffer{}
	opts := Options{
		TPMSpec:     sw.Spec(),
		StateDir:    filepath.Join(dir, "state"),
		SocketPath:  filepath.Join(dir, "s.sock"),
		Logger:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		AuditLogger: slog.New(slog.NewJSONHandler(audit, nil)),
		Version:     "test",
		ConfigPath:  filepath.Join(dir, "tpmkeyd.toml"),
	}
	if cfgBody != "" {
		writeFile(t, opts.ConfigPath, cfgBody)
	}
	return opts, logs, audit
}

func writeFile(t testing.TB, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startDaemon runs a daemon with cfgBody as its config until the test
// ends, and waits for it to be ready.
func startDaemon(t *testing.T, cfgBody string) *testDaemon {
	t.Helper()
	sw := swtpmtest.Start(t)
	sw.SetLockout(swtpmtest.ChipLockoutTries, time.Hour, time.Hour)
	opts, logs, audit := testOptions(t, sw, cfgBody)
	return runDaemon(t, sw, opts, logs, audit)
}

// startDaemonTB is startDaemon for benchmarks, with the audit discarded.
func startDaemonTB(b *testing.B) *testDaemon {
	b.Helper()
	sw := swtpmtest.Start(b)
	dir := shortDir(b)
	opts := Options{TPMSpec: sw.Spec(), StateDir: filepath.Join(dir, "state"), SocketPath: filepath.Join(dir, "s.sock"),
		AuditLogger: slog.New(slog.DiscardHandler), ConfigPath: filepath.Join(dir, "tpmkeyd.toml")}
	// A benchmark outruns the default rate limit of 1000 requests a second.
	writeFile(b, opts.ConfigPath, "[limits]\nrequests_per_second = 0\n")
	d, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(context.Background()) }()
	<-d.Ready()
	b.Cleanup(func() { d.Stop(); <-done })
	return &testDaemon{d: d, socket: opts.SocketPath}
}

func runDaemon(t *testing.T, sw *swtpmtest.Instance, opts Options, logs, audit *syncBuffer) *testDaemon {
	t.Helper()
	d, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	td := &testDaemon{t: t, sw: sw, d: d, opts: opts, socket: opts.SocketPath, logs: logs, audit: audit,
		done: make(chan error, 1)}
	go func() { td.done <- d.Run(context.Background()) }()
	select {
	case <-d.Ready():
	case err := <-td.done:
		t.Fatalf("Run before ready = %v\nlogs:\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon not ready after 30s\nlogs:\n%s", logs)
	}
	t.Cleanup(func() { td.stop() })
	return td
}

// stop stops the daemon and returns Run's result (once).
func (td *testDaemon) stop() error {
	td.d.Stop()
	select {
	case err, ok := <-td.done:
		if ok {
			close(td.done)
		}
		return err
	case <-time.After(30 * time.Second):
		td.t.Fatalf("Run did not return 30s after Stop\nlogs:\n%s", td.logs)
	}
	return nil
}

func (td *testDaemon) core() *core.Core {
	td.d.mu.Lock()
	defer td.d.mu.Unlock()
	return td.d.running.core
}

// rawClient speaks frames on the socket, with no client library.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	br *bufio.Reader
	id uint32
}

func dialRaw(t testing.TB, path string) *rawClient {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// dialHello dials and says Hello.
func dialHello(t testing.TB, path string) *rawClient {
	t.Helper()
	c := dialRaw(t, path)
	var resp protocol.HelloResponse
	if st, msg := c.call(protocol.OpHello, &protocol.HelloRequest{Versions: []uint{1}}, &resp); st != protocol.StatusOK {
		t.Fatalf("Hello = %v (%s), want OK", st, msg)
	}
	return c
}

// send writes one request and returns its id.
func (c *rawClient) send(op protocol.Op, body any) uint32 {
	c.t.Helper()
	c.id++
	frame, err := protocol.AppendRequest(nil, protocol.RequestHeader{Version: protocol.Version1, Op: op, ID: c.id}, body)
	if err != nil {
		c.t.Fatalf("AppendRequest: %v", err)
	}
	c.sendRaw(frame)
	return c.id
}

func (c *rawClient) sendRaw(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("Write: %v", err)
	}
}

// recv reads one response frame.
func (c *rawClient) recv() (protocol.ResponseHeader, []byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	payload, err := protocol.ReadFrame(c.br, 1<<24)
	if err != nil {
		return protocol.ResponseHeader{}, nil, err
	}
	return protocol.ParseResponse(payload)
}

func (c *rawClient) mustRecv() (protocol.ResponseHeader, []byte) {
	c.t.Helper()
	h, body, err := c.recv()
	if err != nil {
		c.t.Fatalf("recv: %v", err)
	}
	return h, body
}

// call sends req and decodes the answer into resp when OK; otherwise it
// returns the status and the error message.
func (c *rawClient) call(op protocol.Op, req, resp any) (protocol.Status, string) {
	c.t.Helper()
	id := c.send(op, req)
	h, body := c.mustRecv()
	if h.ID != id {
		c.t.Fatalf("response id = %d, want %d", h.ID, id)
	}
	return decodeAnswer(c.t, h, body, resp)
}

func decodeAnswer(t testing.TB, h protocol.ResponseHeader, body []byte, resp any) (protocol.Status, string) {
	t.Helper()
	if h.Status != protocol.StatusOK {
		var eb protocol.ErrorBody
		if err := protocol.DecodeBody(body, &eb); err != nil {
			t.Fatalf("DecodeBody(ErrorBody): %v", err)
		}
		return h.Status, eb.Message
	}
	if resp != nil {
		if err := protocol.DecodeBody(body, resp); err != nil {
			t.Fatalf("DecodeBody(%T): %v", resp, err)
		}
	}
	return h.Status, ""
}

// expectClosed asserts the daemon closes the connection.
func (c *rawClient) expectClosed() {
	c.t.Helper()
	for {
		_, _, err := c.recv()
		if err == nil {
			continue // an answer before the close is fine
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("connection still open, want it closed")
		}
		return
	}
}
