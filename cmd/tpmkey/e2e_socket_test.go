package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// answerTimeout is how long the daemon may take to answer or close a bad
// connection (its read deadline is 10 s by default).
const answerTimeout = 20 * time.Second

func helloFrame(t *testing.T, id uint32) []byte {
	t.Helper()
	f, err := protocol.AppendRequest(nil, protocol.RequestHeader{Version: 1, Op: protocol.OpHello, ID: id},
		&protocol.HelloRequest{Versions: []uint{1}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func rawFrame(payload []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// rawHeader is a request header with any version and opcode.
func rawHeader(version uint8, op uint16, id uint32) []byte {
	h := []byte{version, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(h[2:], op)
	binary.BigEndian.PutUint32(h[4:], id)
	return h
}

// badInputs are byte streams a broken or hostile client might send. Each
// starts a fresh connection; closeAfter ends our side after writing.
func badInputs(t *testing.T) []struct {
	name       string
	data       []byte
	closeAfter bool
	want       protocol.Status // the answer's status when the daemon answers; 0: any error
} {
	random, _ := protocol.AppendRequest(nil, protocol.RequestHeader{Version: 1, Op: protocol.OpGetRandom, ID: 2},
		&protocol.GetRandomRequest{N: 4})
	return []struct {
		name       string
		data       []byte
		closeAfter bool
		want       protocol.Status
	}{
		{"length-0xffffffff", []byte{0xff, 0xff, 0xff, 0xff}, false, protocol.StatusFrameTooLarge},
		{"length-zero", []byte{0, 0, 0, 0}, false, 0},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: tpmkeyd\r\n\r\n"), false, 0},
		{"half-frame-then-close", []byte{0, 0, 0x10, 0, 1, 0, 0, 1, 0, 0}, true, 0},
		{"short-header", rawFrame([]byte{1, 0, 0}), false, 0},
		{"request-before-hello", random, false, 0},
		{"unknown-version", rawFrame(rawHeader(9, uint16(protocol.OpHello), 1)), false, 0},
		{"unknown-opcode", append(helloFrame(t, 1), rawFrame(rawHeader(1, 999, 2))...), false, protocol.StatusUnknownOp},
		{"reserved-opcode", append(helloFrame(t, 1), rawFrame(rawHeader(1, uint16(protocol.OpAttest), 2))...), false, protocol.StatusUnknownOp},
		{"invalid-cbor", append(helloFrame(t, 1), rawFrame(append(rawHeader(1, uint16(protocol.OpGetRandom), 2), 0xbf, 0xff, 0x61))...), false, protocol.StatusBadRequest},
	}
}

// sendBad writes data on a new connection; it fails t if the daemon did not
// answer (with want, unless 0) or close within answerTimeout.
func sendBad(t *testing.T, socket string, data []byte, closeAfter bool, want protocol.Status) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		t.Errorf("dial: %v", err)
		return
	}
	defer conn.Close()
	if _, err := conn.Write(data); err != nil || closeAfter {
		return // the daemon may already have closed on us
	}
	conn.SetReadDeadline(time.Now().Add(answerTimeout))
	br := bufio.NewReader(conn)
	for {
		payload, err := protocol.ReadFrame(br, 0)
		var ne net.Error
		switch {
		case err == nil:
			h, _, _ := protocol.ParseResponse(payload)
			if h.Status == protocol.StatusOK && h.Op == protocol.OpHello {
				continue // our own Hello
			}
			if h.Status == protocol.StatusOK || (want != 0 && h.Status != want) {
				t.Errorf("bad input answered %v id %d with %v, want %v", h.Op, h.ID, h.Status, want)
			}
			return // answered; the daemon may keep the connection
		case errors.As(err, &ne) && ne.Timeout():
			t.Errorf("the daemon neither answered nor closed within %v", answerTimeout)
			return
		default:
			return // closed
		}
	}
}

// TestMalformedInputOnRawSocket: the daemon answers or closes each bad
// input, keeps serving a well-behaved client all along, and its RSS stays
// bounded even with many connections that declared the largest frame and
// sent almost nothing of it.
func TestMalformedInputOnRawSocket(t *testing.T) {
	s, _, _ := startStack(t)
	good := dial(t, s)
	ctx := context.Background()
	rssBefore := mustRSS(t, s.Daemon)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	goodCalls := 0
	wg.Go(func() { // a good client is served throughout
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := good.Random(ctx, 8); err != nil {
				t.Errorf("Random on a good connection during the attack = %v", err)
				return
			}
			goodCalls++
		}
	})
	for _, tt := range badInputs(t) {
		t.Run(tt.name, func(t *testing.T) {
			for range 10 {
				sendBad(t, s.Socket, tt.data, tt.closeAfter, tt.want)
			}
		})
	}
	held := holdHalfFrames(t, s.Socket, 60)
	rssHeld := mustRSS(t, s.Daemon)
	for _, c := range held {
		c.Close()
	}
	close(stop)
	wg.Wait()
	if goodCalls == 0 {
		t.Error("the good client made no call while bad input was sent")
	}
	if !s.Daemon.Running() {
		t.Fatalf("the daemon died; log:\n%s", s.Daemon.Log())
	}
	const bound = 64 << 20
	if grew := rssHeld - rssBefore; grew > bound {
		t.Errorf("daemon RSS grew by %d MiB (from %d MiB), want at most %d MiB", grew>>20, rssBefore>>20, bound>>20)
	}
	t.Logf("daemon RSS %d MiB before, %d MiB with 60 half frames held; %d good calls served", rssBefore>>20, rssHeld>>20, goodCalls)
	if _, err := good.Random(ctx, 8); err != nil {
		t.Errorf("Random after the attack = %v", err)
	}
}

// holdHalfFrames opens n connections that say Hello, then declare a frame of
// almost the maximum size and send 1 KiB of it.
func holdHalfFrames(t *testing.T, socket string, n int) []net.Conn {
	var conns []net.Conn
	part := append(binary.BigEndian.AppendUint32(nil, protocol.DefaultMaxFrameSize-1), make([]byte, 1024)...)
	for range n {
		c, err := net.Dial("unix", socket)
		if err != nil {
			t.Errorf("dial: %v", err)
			break
		}
		conns = append(conns, c)
		c.Write(helloFrame(t, 1))
		c.Write(part)
	}
	// Each connection's Hello answer proves the daemon has read up to the
	// half frame.
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(answerTimeout))
		if _, err := protocol.ReadFrame(c, 0); err != nil {
			t.Errorf("Hello on a held connection: %v", err)
		}
	}
	return conns
}

func mustRSS(t *testing.T, d *e2e.Daemon) int64 {
	t.Helper()
	rss, err := d.RSS()
	if err != nil {
		t.Fatal(err)
	}
	return rss
}
