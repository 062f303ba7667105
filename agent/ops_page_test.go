//go:build linux

package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// recvLimited reads one response frame, failing if it is over limit.
func (c *rawClient) recvLimited(limit uint32) (protocol.ResponseHeader, []byte) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(60 * time.Second))
	payload, err := protocol.ReadFrame(c.br, limit)
	if err != nil {
		c.t.Fatalf("ReadFrame(limit %d): %v", limit, err)
	}
	h, body, err := protocol.ParseResponse(payload)
	if err != nil {
		c.t.Fatalf("ParseResponse: %v", err)
	}
	return h, body
}

// TestListKeysFitsFrameLimit: with max_frame_size = 4096 and many keys,
// every page fits the limit and the cursors walk all keys, in order, once
// (§6.8); the page stops short of limit where the frame is full.
func TestListKeysFitsFrameLimit(t *testing.T) {
	const limit = 4096
	td := startDaemon(t, fmt.Sprintf("[limits]\nmax_frame_size = %d\n", limit))
	c := dialHello(t, td.socket)
	var want []string
	for i := range 40 {
		alias := fmt.Sprintf("key-%03d-%s", i, strings.Repeat("x", 100))
		if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: alias, Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
			t.Fatalf("GenerateKey(%s) = %v (%s)", alias, st, msg)
		}
		want = append(want, alias)
	}
	var got []string
	cursor, pages := "", 0
	for {
		c.send(protocol.OpListKeys, &protocol.ListKeysRequest{Cursor: cursor, Limit: 1000})
		h, body := c.recvLimited(limit)
		var page protocol.ListKeysResponse
		if st, msg := decodeAnswer(t, h, body, &page); st != protocol.StatusOK {
			t.Fatalf("ListKeys(cursor %q) = %v (%s)", cursor, st, msg)
		}
		if len(page.Keys) == 0 && page.NextCursor != "" {
			t.Fatalf("ListKeys(cursor %q) = an empty page with a cursor", cursor)
		}
		for _, k := range page.Keys {
			got = append(got, k.Alias)
		}
		pages++
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListKeys pages = %d aliases %v, want the %d created, ascending, once each", len(got), got, len(want))
	}
	if pages < 2 {
		t.Errorf("ListKeys took %d page(s) for %d keys in %d-byte frames, want several", pages, len(want), limit)
	}
	t.Logf("%d keys in %d pages of at most %d bytes", len(got), pages, limit)
}

// TestResponsesNeverExceedFrameLimit: an answer that would be over the
// limit (here an error quoting a long hash name back) is cut to a short
// error with the same status.
func TestResponsesNeverExceedFrameLimit(t *testing.T) {
	const limit = 4096
	td := startDaemon(t, fmt.Sprintf("[limits]\nmax_frame_size = %d\n", limit))
	c := dialHello(t, td.socket)
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v (%s)", st, msg)
	}
	req := func(n int) *protocol.SignRequest {
		return &protocol.SignRequest{Alias: "k", Message: []byte("m"), Hash: strings.Repeat("h", n)}
	}
	base, _ := protocol.AppendRequest(nil, protocol.RequestHeader{Op: protocol.OpSign, ID: 1}, req(1000))
	n := 1000 + limit - (len(base) - protocol.LengthPrefixSize) // a request of exactly limit bytes
	echo, _ := protocol.AppendErrorResponse(nil, protocol.RequestHeader{Op: protocol.OpSign},
		protocol.Errorf(protocol.StatusBadRequest, "unknown hash %q", strings.Repeat("h", n)))
	if len(echo)-protocol.LengthPrefixSize <= limit {
		t.Fatalf("test setup: the quoted error is %d bytes, want over %d", len(echo), limit)
	}
	c.send(protocol.OpSign, req(n))
	h, _ := c.recvLimited(limit)
	if h.Status != protocol.StatusBadRequest {
		t.Errorf("Sign(hash of %d bytes) = %v, want BAD_REQUEST", n, h.Status)
	}
}
