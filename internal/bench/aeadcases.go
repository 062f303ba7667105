package bench

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// The AEAD cases compare tpmkeyd's AEADEncrypt/AEADDecrypt with software
// floors measured in the same run: in-process Go AES-256-GCM over the same
// bytes (1 MiB), and a bare Unix-socket echo of the same request and
// response sizes (1 KiB), the IPC floor.
const (
	aeadAlias   = "bench-aead"
	aeadBig     = 1 << 20
	aeadSmall   = 1 << 10
	aeadWorkers = 8
)

// Software floors (not TPM floors: they have no place in allRefs).
const (
	SoftAESGCMSeal Reference = "go-aes-256-gcm-seal-1mib"
	SoftAESGCMOpen Reference = "go-aes-256-gcm-open-1mib"
	SoftEchoEnc    Reference = "unix-socket-echo-1kib-encrypt-sizes"
	SoftEchoDec    Reference = "unix-socket-echo-1kib-decrypt-sizes"
)

// aeadEnv is what the AEAD cases use.
type aeadEnv struct {
	bigPT, bigCT     []byte
	smallPT, smallCT []byte
	gcm              cipher.AEAD
	gcmCT            []byte
	sealBuf          []byte // the floor's output buffer, reused as a caller would
	echo             *echoServer
	echoConns        []*echoConn
	encSize, decSize [2]int // request and response frame sizes: encrypt, decrypt of 1 KiB
}

func (e *agentEnv) setupAEAD(ctx context.Context) error {
	if _, err := e.shared.GenerateKey(ctx, aeadAlias, client.AlgAES256GCM); err != nil {
		return fmt.Errorf("GenerateKey %s: %w", aeadAlias, err)
	}
	a := &aeadEnv{bigPT: make([]byte, aeadBig), smallPT: make([]byte, aeadSmall)}
	rand.Read(a.bigPT)
	rand.Read(a.smallPT)
	var err error
	if a.bigCT, err = e.shared.AEADEncrypt(ctx, aeadAlias, a.bigPT, nil); err != nil {
		return fmt.Errorf("AEADEncrypt 1 MiB (the bench raises max_frame_size to 2 MiB): %w", err)
	}
	if a.smallCT, err = e.shared.AEADEncrypt(ctx, aeadAlias, a.smallPT, nil); err != nil {
		return fmt.Errorf("AEADEncrypt 1 KiB: %w", err)
	}
	key := make([]byte, 32)
	rand.Read(key)
	b, _ := aes.NewCipher(key)
	a.gcm, _ = cipher.NewGCM(b)
	a.gcmCT = a.gcm.Seal(nil, make([]byte, 12), a.bigPT, nil)
	a.sealBuf = make([]byte, 0, aeadBig+a.gcm.Overhead())
	// The echo carries frames of the sizes the 1 KiB requests and responses
	// have on the wire.
	a.encSize = [2]int{frameSize(protocol.OpAEADEncrypt, &protocol.AEADEncryptRequest{Alias: aeadAlias, Plaintext: a.smallPT}),
		frameSize(0, &protocol.AEADEncryptResponse{Ciphertext: a.smallCT, Version: 1})}
	a.decSize = [2]int{frameSize(protocol.OpAEADDecrypt, &protocol.AEADDecryptRequest{Ciphertext: a.smallCT}),
		frameSize(0, &protocol.AEADDecryptResponse{Plaintext: a.smallPT, Alias: aeadAlias, Version: 1})}
	if a.echo, err = startEcho(); err != nil {
		return err
	}
	for range aeadWorkers {
		c, err := a.echo.dial()
		if err != nil {
			a.echo.close()
			return err
		}
		a.echoConns = append(a.echoConns, c)
	}
	e.aead = a
	return nil
}

// frameSize is the length of the frame carrying body.
func frameSize(o protocol.Op, body any) int {
	n, err := protocol.EncodedSize(body)
	if err != nil {
		return 0
	}
	if o != 0 {
		return 4 + 8 + n // request header
	}
	return 4 + 10 + n // response header
}

func (e *agentEnv) aeadCases() []agentCase {
	a := e.aead
	if a == nil {
		return nil
	}
	enc := func(pt []byte) op {
		return func(ctx context.Context, _, _ int) error {
			_, err := e.shared.AEADEncrypt(ctx, aeadAlias, pt, nil)
			return err
		}
	}
	dec := func(ct []byte) op {
		return func(ctx context.Context, _, _ int) error {
			_, err := e.shared.AEADDecrypt(ctx, ct, nil)
			return err
		}
	}
	return []agentCase{
		{name: "aead-encrypt-1mib", desc: "AEADEncrypt of 1 MiB, cached key, 1 client, serial", ref: SoftAESGCMSeal, workers: 1,
			target: 0.5, op: enc(a.bigPT)},
		{name: "aead-decrypt-1mib", desc: "AEADDecrypt of 1 MiB, cached key, 1 client, serial", ref: SoftAESGCMOpen, workers: 1,
			target: 0.5, op: dec(a.bigCT)},
		{name: "aead-encrypt-1kib-8-goroutines", desc: "AEADEncrypt of 1 KiB, cached key, 8 goroutines on one client", ref: SoftEchoEnc,
			workers: aeadWorkers, target: 0.6, op: enc(a.smallPT)},
		{name: "aead-decrypt-1kib-8-goroutines", desc: "AEADDecrypt of 1 KiB, cached key, 8 goroutines on one client", ref: SoftEchoDec,
			workers: aeadWorkers, target: 0.6, op: dec(a.smallCT)},
	}
}

// softFloor is a software floor: an op and how many goroutines run it.
type softFloor struct {
	op      op
	workers int
}

// softFloor returns the software floor named ref, if it is one.
func (e *agentEnv) softFloor(ref Reference) (softFloor, bool) {
	a := e.aead
	if a == nil {
		return softFloor{}, false
	}
	nonce := make([]byte, 12)
	echo := func(size [2]int) op {
		return func(_ context.Context, w, _ int) error { return a.echoConns[w].roundTrip(size[0], size[1]) }
	}
	switch ref {
	case SoftAESGCMSeal:
		return softFloor{func(context.Context, int, int) error { a.gcm.Seal(a.sealBuf[:0], nonce, a.bigPT, nil); return nil }, 1}, true
	case SoftAESGCMOpen:
		return softFloor{func(context.Context, int, int) error {
			_, err := a.gcm.Open(a.sealBuf[:0], nonce, a.gcmCT, nil)
			return err
		}, 1}, true
	case SoftEchoEnc:
		return softFloor{echo(a.encSize), aeadWorkers}, true
	case SoftEchoDec:
		return softFloor{echo(a.decSize), aeadWorkers}, true
	}
	return softFloor{}, false
}

// pairSoft is pair with a software floor: one floor phase, then one agent
// phase of c.
func (r *run) pairSoft(ctx context.Context, f softFloor, d *daemonProc, c agentCase, t *tally) error {
	for n := range 3 { // the floor's warm-up
		if err := f.op(ctx, 0, n); err != nil {
			return fmt.Errorf("%s: %w", c.ref, err)
		}
	}
	rs, err := drive(ctx, f.workers, r.cfg.Phase, f.op)
	if err != nil {
		return fmt.Errorf("%s: %w", c.ref, err)
	}
	cpu0, err := d.cpuTime()
	if err != nil {
		return err
	}
	as, err := drive(ctx, c.workers, r.cfg.Phase, c.op)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	cpu1, err := d.cpuTime()
	if err != nil {
		return err
	}
	t.cpu += cpu1 - cpu0
	t.raw.add(rs)
	t.agent.add(as)
	t.ratios = append(t.ratios, as.Rate()/rs.Rate())
	return nil
}

func (a *aeadEnv) close() {
	if a == nil {
		return
	}
	for _, c := range a.echoConns {
		c.Close()
	}
	a.echo.close()
}

// echoServer answers every frame of n bytes (length prefix included) with a
// frame of the size the client asks for: the cheapest server a Unix socket
// allows, one goroutine per connection, as tpmkeyd's front end has.
type echoServer struct {
	ln  net.Listener
	dir string
	wg  sync.WaitGroup
}

func startEcho() (*echoServer, error) {
	dir, err := os.MkdirTemp("", "bench-echo")
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", filepath.Join(dir, "echo.sock"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &echoServer{ln: ln, dir: dir}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { serveEcho(c) })
		}
	})
	return s, nil
}

// serveEcho reads u32 length | u32 response length | payload, and writes a
// frame of the response length.
func serveEcho(c net.Conn) {
	defer c.Close()
	br, bw := bufio.NewReaderSize(c, 64<<10), bufio.NewWriterSize(c, 64<<10)
	var hdr [8]byte
	buf := make([]byte, 0, 64<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n, resp := int(binary.BigEndian.Uint32(hdr[:4])), int(binary.BigEndian.Uint32(hdr[4:]))
		buf = buf[:max(n, resp)]
		if _, err := io.ReadFull(br, buf[:n-8]); err != nil {
			return
		}
		binary.BigEndian.PutUint32(buf, uint32(resp))
		if _, err := bw.Write(buf[:resp]); err != nil || bw.Flush() != nil {
			return
		}
	}
}

func (s *echoServer) close() {
	s.ln.Close()
	s.wg.Wait()
	os.RemoveAll(s.dir)
}

type echoConn struct {
	net.Conn
	br  *bufio.Reader
	buf []byte
}

func (s *echoServer) dial() (*echoConn, error) {
	c, err := net.Dial("unix", s.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	return &echoConn{Conn: c, br: bufio.NewReaderSize(c, 64<<10), buf: make([]byte, 64<<10)}, nil
}

// roundTrip sends a frame of req bytes and reads the answer of resp bytes.
func (c *echoConn) roundTrip(req, resp int) error {
	if req < 8 || resp < 4 {
		return errors.New("bench: echo frame too short")
	}
	b := c.buf[:req]
	binary.BigEndian.PutUint32(b, uint32(req))
	binary.BigEndian.PutUint32(b[4:], uint32(resp))
	if _, err := c.Write(b); err != nil {
		return err
	}
	_, err := io.ReadFull(c.br, c.buf[:resp])
	return err
}
