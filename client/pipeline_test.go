package client

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// randomReply answers GetRandom with n bytes of value byte(n).
func randomReply(fc *fakeConn, req fakeRequest) {
	var r protocol.GetRandomRequest
	if err := protocol.DecodeBody(req.body, &r); err != nil {
		fc.reply(req.hdr, protocol.ErrorFor(err))
		return
	}
	fc.reply(req.hdr, &protocol.GetRandomResponse{Bytes: bytes.Repeat([]byte{byte(r.N)}, int(r.N))})
}

func TestPipelinedResponsesOutOfOrder(t *testing.T) {
	const calls = 64
	var mu sync.Mutex
	var held []fakeRequest
	s := startFake(t, func(fc *fakeConn, req fakeRequest) {
		mu.Lock()
		held = append(held, req)
		all := len(held) == calls
		mu.Unlock()
		if !all {
			return
		}
		// Every call is in flight on the one connection: answer newest first.
		for i := calls - 1; i >= 0; i-- {
			randomReply(fc, held[i])
		}
	})
	c := dialFake(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for i := 1; i <= calls; i++ {
		wg.Go(func() {
			b, err := c.Random(context.Background(), i)
			if err == nil && !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, i)) {
				err = fmt.Errorf("Random(%d) = %x, want %d bytes of %02x", i, b, i, i)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestCancelDropsLateResponse(t *testing.T) {
	release, gotSlow := make(chan struct{}), make(chan struct{})
	s := startFake(t, func(fc *fakeConn, req fakeRequest) {
		var r protocol.GetRandomRequest
		protocol.DecodeBody(req.body, &r)
		if r.N == 1 { // the slow one
			close(gotSlow)
			go func() { <-release; randomReply(fc, req) }()
			return
		}
		randomReply(fc, req)
	})
	c := dialFake(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Random(ctx, 1); done <- err }()
	<-gotSlow
	// The slow call is pending when a second call completes.
	if _, err := c.Random(context.Background(), 2); err != nil {
		t.Fatalf("Random(2) = %v", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Random(1) = %v, want context.Canceled", err)
	}
	close(release) // the late answer must be dropped, not misdelivered
	for i := 3; i < 10; i++ {
		b, err := c.Random(context.Background(), i)
		if err != nil || len(b) != i || b[0] != byte(i) {
			t.Fatalf("Random(%d) after a cancel = %x, %v", i, b, err)
		}
	}
}

func TestConnectionDeathFailsPendingAndLaterCalls(t *testing.T) {
	got := make(chan struct{}, 8)
	s := startFake(t, func(fc *fakeConn, req fakeRequest) {
		got <- struct{}{}
		if req.hdr.Op == protocol.OpStatus {
			fc.conn.Close()
		}
	})
	c := dialFake(t, s)
	pending := make(chan error, 1)
	go func() { _, err := c.Random(context.Background(), 5); pending <- err }()
	<-got // the server holds the Random call
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrConnectionClosed) {
		t.Errorf("Status() on a dying connection = %v, want ErrConnectionClosed", err)
	}
	if err := <-pending; !errors.Is(err, ErrConnectionClosed) {
		t.Errorf("pending Random() = %v, want ErrConnectionClosed", err)
	}
	if _, err := c.Random(context.Background(), 1); !errors.Is(err, ErrConnectionClosed) {
		t.Errorf("Random() after the connection died = %v, want ErrConnectionClosed", err)
	}
}

func TestCloseFailsLaterCalls(t *testing.T) {
	s := startFake(t, randomReply)
	c := dialFake(t, s)
	if err := c.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := c.Random(context.Background(), 1); !errors.Is(err, ErrConnectionClosed) {
		t.Errorf("Random() after Close = %v, want ErrConnectionClosed", err)
	}
}

func TestServerStatusMapsToSentinel(t *testing.T) {
	tests := []struct {
		name   string
		status protocol.Status
		want   error
	}{
		{"key-not-found", protocol.StatusKeyNotFound, ErrKeyNotFound},
		{"wrong-pin", protocol.StatusWrongPIN, ErrWrongPIN},
		{"policy-mismatch", protocol.StatusPolicyMismatch, ErrPolicyMismatch},
		{"key-invalidated", protocol.StatusKeyInvalidated, ErrKeyInvalidated},
		{"rate-limited", protocol.StatusRateLimited, ErrRateLimited},
		{"internal", protocol.StatusInternal, ErrInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startFake(t, func(fc *fakeConn, req fakeRequest) {
				fc.reply(req.hdr, protocol.Errorf(tt.status, "the server says %d", tt.status))
			})
			c := dialFake(t, s)
			_, err := c.Key(context.Background(), "k")
			if !errors.Is(err, tt.want) {
				t.Fatalf("Key() = %v, want %v", err, tt.want)
			}
			want := fmt.Sprintf("%s: the server says %d", tt.status, tt.status)
			if err.Error() != want {
				t.Errorf("Key() error text = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestSignerRejectsUnsupportedOptions(t *testing.T) {
	s := startFake(t, func(fc *fakeConn, req fakeRequest) {
		fc.reply(req.hdr, protocol.Errorf(protocol.StatusInternal, "not expected"))
	})
	c := dialFake(t, s)
	sg := &signer{c: c, ctx: context.Background(), key: &Key{Alias: "k", Algorithm: AlgRSA2048}, isRSA: true}
	digest := make([]byte, 32)
	_, err := sg.Sign(nil, digest, crypto.Hash(0))
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("Sign(unhashed) = %v, want ErrUnsupported", err)
	}
	_, err = sg.Sign(nil, digest[:20], crypto.SHA256)
	if !errors.Is(err, ErrBadRequest) {
		t.Errorf("Sign(short digest) = %v, want ErrBadRequest", err)
	}
	d := &decrypter{c: c, ctx: context.Background(), key: &Key{Alias: "k"}}
	_, err = d.Decrypt(nil, []byte{1}, &rsa.OAEPOptions{Hash: crypto.SHA1})
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("Decrypt(OAEP SHA-1) = %v, want ErrUnsupported", err)
	}
}
