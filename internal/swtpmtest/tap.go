package swtpmtest

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Tap is a recording TCP proxy in front of a swtpm: a probe on the TPM
// bus. Everything that crosses it, in both directions, is kept.
type Tap struct {
	Port int // command port; the control port is Port+1

	mu  sync.Mutex
	buf bytes.Buffer
}

// Spec is the tpm.Open spec string that goes through the tap.
func (tp *Tap) Spec() string { return fmt.Sprintf("swtpm:tcp://127.0.0.1:%d", tp.Port) }

// Seen reports whether secret crossed the bus in the clear so far.
func (tp *Tap) Seen(secret []byte) bool {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Contains(tp.buf.Bytes(), secret)
}

// Len is the number of bytes recorded.
func (tp *Tap) Len() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.buf.Len()
}

func (tp *Tap) Write(p []byte) (int, error) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.buf.Write(p)
}

// StartTap puts a recording proxy in front of i for the rest of the test.
func (i *Instance) StartTap() *Tap {
	i.t.Helper()
	port, err := freePortPair()
	if err != nil {
		i.t.Fatal(err)
	}
	tp := &Tap{Port: port}
	for off := 0; off < 2; off++ {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+off)))
		if err != nil {
			i.t.Fatalf("tap: %v", err)
		}
		i.t.Cleanup(func() { l.Close() })
		go tp.serve(i.t, l, i.Port+off)
	}
	return tp
}

func (tp *Tap) serve(t testing.TB, l net.Listener, target int) {
	for {
		c, err := l.Accept()
		if err != nil {
			return // the listener was closed at cleanup
		}
		up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(target)))
		if err != nil {
			c.Close()
			continue
		}
		go pipe(up, c, tp)
		go pipe(c, up, tp)
	}
}

// pipe copies src to dst, recording what passes, and closes both at the end.
func pipe(dst, src net.Conn, rec io.Writer) {
	_, _ = io.Copy(io.MultiWriter(dst, rec), src)
	dst.Close()
	src.Close()
}
