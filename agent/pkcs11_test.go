//go:build linux

package agent

import (
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// p11Conn is a p11-kit RPC client that lets several goroutines wait on one
// connection, as p11-kit's client does: answers are paired by code.
type p11Conn struct {
	t    *testing.T
	nc   net.Conn
	wmu  sync.Mutex
	mu   sync.Mutex // guards next and wait
	next uint32
	wait map[uint32]chan []byte
}

func dialP11(t *testing.T, path string) *p11Conn {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	var v [1]byte
	if _, err := nc.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(nc, v[:]); err != nil {
		t.Fatalf("version byte: %v", err)
	}
	c := &p11Conn{t: t, nc: nc, next: 0x10, wait: map[uint32]chan []byte{}}
	go c.readLoop()
	return c
}

func (c *p11Conn) readLoop() {
	for {
		var h [12]byte
		if _, err := io.ReadFull(c.nc, h[:]); err != nil {
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(h[8:]))
		if _, err := io.ReadFull(c.nc, b); err != nil {
			return
		}
		c.mu.Lock()
		ch := c.wait[binary.BigEndian.Uint32(h[:])]
		c.mu.Unlock()
		if ch != nil {
			ch <- b
		}
	}
}

// call sends msg and returns the CK_RV and the response's arguments.
func (c *p11Conn) call(msg []byte) (uint64, []byte) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.next++
	code := c.next
	c.wait[code] = ch
	c.mu.Unlock()
	hdr := binary.BigEndian.AppendUint32(nil, code)
	hdr = binary.BigEndian.AppendUint32(hdr, 0)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(msg)))
	c.wmu.Lock()
	_, err := c.nc.Write(append(hdr, msg...))
	c.wmu.Unlock()
	if err != nil {
		return ^uint64(0), nil
	}
	select {
	case resp := <-ch:
		args := resp[8+binary.BigEndian.Uint32(resp[4:]):]
		if binary.BigEndian.Uint32(resp) == 0 {
			return binary.BigEndian.Uint64(args), nil
		}
		return 0, args
	case <-time.After(30 * time.Second):
		return ^uint64(0), nil
	}
}

type p11msg struct{ b []byte }

func p11m(call uint32, sig string) *p11msg {
	m := &p11msg{}
	return m.u32(call).bytes([]byte(sig))
}
func (m *p11msg) u32(v uint32) *p11msg   { m.b = binary.BigEndian.AppendUint32(m.b, v); return m }
func (m *p11msg) u64(v uint64) *p11msg   { m.b = binary.BigEndian.AppendUint64(m.b, v); return m }
func (m *p11msg) by(v byte) *p11msg      { m.b = append(m.b, v); return m }
func (m *p11msg) bytes(b []byte) *p11msg { m.u32(uint32(len(b))); m.b = append(m.b, b...); return m }

// TestPKCS11Concurrent drives the PKCS#11 socket of an in-process daemon
// from goroutines sharing connections (run it with -race): finds, signs
// and random numbers interleave on one socket, answered out of order.
func TestPKCS11Concurrent(t *testing.T) {
	sw := swtpmtest.Start(t)
	opts, logs, audit := testOptions(t, sw, "[limits]\nrequests_per_second = 0\n")
	opts.PKCS11SocketPath = filepath.Join(filepath.Dir(opts.SocketPath), "p.sock")
	td := runDaemon(t, sw, opts, logs, audit)
	native := dialHello(t, td.socket)
	var gk protocol.GenerateKeyResponse
	if st, msg := native.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "hot", Algorithm: protocol.AlgECP256}, &gk); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v %s", st, msg)
	}
	digest := make([]byte, 32)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for range 2 {
		c := dialP11(t, opts.PKCS11SocketPath)
		if rv, _ := c.call(p11m(1, "ayyay").by(1).bytes([]byte("PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1")).by(0).by(0).b); rv != 0 {
			t.Fatalf("C_Initialize = %#x", rv)
		}
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rv, args := c.call(p11m(10, "uu").u64(1).u64(4).b)
				if rv != 0 {
					errs <- "C_OpenSession failed"
					return
				}
				sess := binary.BigEndian.Uint64(args)
				for i := range 15 {
					find := p11m(26, "uaA").u64(sess).u32(2)
					find.u32(0).by(1).u32(8).u64(3)
					find.u32(3).by(1).u32(3).bytes([]byte("hot"))
					if rv, _ := c.call(find.b); rv != 0 {
						errs <- "C_FindObjectsInit failed"
						return
					}
					rv, args := c.call(p11m(27, "ufu").u64(sess).u32(8).b)
					c.call(p11m(28, "u").u64(sess).b)
					if rv != 0 || len(args) < 13 || binary.BigEndian.Uint32(args[1:]) != 1 {
						errs <- "C_FindObjects did not find hot"
						return
					}
					key := binary.BigEndian.Uint64(args[5:])
					if (g+i)%3 == 0 {
						if rv, args := c.call(p11m(64, "ufy").u64(sess).u32(48).b); rv != 0 || len(args) < 5 {
							errs <- "C_GenerateRandom failed"
						}
						continue
					}
					if rv, _ := c.call(p11m(42, "uMu").u64(sess).u32(0x1041).u32(0xffffffff).u64(key).b); rv != 0 {
						errs <- "C_SignInit failed"
						return
					}
					rv, args = c.call(p11m(43, "uayfy").u64(sess).by(1).bytes(digest).u32(64).b)
					if rv != 0 || len(args) < 5 || args[0] != 1 || binary.BigEndian.Uint32(args[1:]) != 64 {
						errs <- "C_Sign did not give a 64-byte signature"
						return
					}
				}
				c.call(p11m(11, "u").u64(sess).b)
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", logs)
	}
	// A stop with PKCS#11 connections still open (p11-kit's client keeps
	// its own for the program's life) is prompt and clean.
	start := time.Now()
	if err := td.stop(); err != nil || time.Since(start) > 10*time.Second {
		t.Errorf("stop with idle PKCS#11 connections = %v after %v, want nil within 10s", err, time.Since(start))
	}
}
