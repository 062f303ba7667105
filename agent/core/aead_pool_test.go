//go:build linux

package core

import (
	"bytes"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestAEADPooledBuffersCleared: the buffers an AEAD call borrows from the
// pool are cleared by Finish where they held a secret (the opened
// plaintext's frame, the request body with the plaintext to seal), and the
// data sits in Call.Frame where the response encodes it.
func TestAEADPooledBuffersCleared(t *testing.T) {
	tc := newTPMCore(t)
	tc.do(t, protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "a", Algorithm: protocol.AlgAES256GCM})
	secret := bytes.Repeat([]byte("secret-plaintext"), 8192) // 128 KiB

	t.Run("encrypt-body", func(t *testing.T) {
		frame, err := protocol.AppendRequest(nil, protocol.RequestHeader{Op: protocol.OpAEADEncrypt, ID: 1},
			&protocol.AEADEncryptRequest{Alias: "a", Plaintext: secret})
		if err != nil {
			t.Fatal(err)
		}
		body := frame[protocol.LengthPrefixSize+protocol.RequestHeaderSize:]
		call := &Call{Op: protocol.OpAEADEncrypt, Body: body}
		res := tc.sess.Do(t.Context(), call)
		if res.Status != protocol.StatusOK {
			t.Fatalf("AEADEncrypt = %v (%s)", res.Status, res.Message)
		}
		ct := res.Resp.(*protocol.AEADEncryptResponse).Ciphertext
		checkInFrame(t, call, res, ct)
		call.Finish()
		if bytes.Contains(body, []byte("secret-plaintext")) {
			t.Errorf("request body after Finish holds the plaintext, want it cleared")
		}
	})

	t.Run("decrypt-frame", func(t *testing.T) {
		ct := tc.do(t, protocol.OpAEADEncrypt, &protocol.AEADEncryptRequest{Alias: "a", Plaintext: secret}).(*protocol.AEADEncryptResponse).Ciphertext
		ct = bytes.Clone(ct) // tc.do's call finishes at cleanup, and its frame goes back to the pool
		call := &Call{Op: protocol.OpAEADDecrypt, Req: &protocol.AEADDecryptRequest{Ciphertext: ct}}
		res := tc.sess.Do(t.Context(), call)
		if res.Status != protocol.StatusOK {
			t.Fatalf("AEADDecrypt = %v (%s)", res.Status, res.Message)
		}
		pt := res.Resp.(*protocol.AEADDecryptResponse).Plaintext
		if !bytes.Equal(pt, secret) {
			t.Fatalf("AEADDecrypt = %d bytes, want the %d of the plaintext", len(pt), len(secret))
		}
		checkInFrame(t, call, res, pt)
		if !call.Sensitive {
			t.Errorf("AEADDecrypt: call.Sensitive = false, want true")
		}
		frame := call.Frame
		call.Finish()
		if b := (*frame)[:cap(*frame)]; bytes.Contains(b, []byte("secret-plaintext")) {
			t.Errorf("response frame after Finish holds the plaintext, want it cleared")
		}
		if bytes.Contains(pt, []byte("secret-plaintext")) {
			t.Errorf("plaintext after Finish = not cleared, want zeros")
		}
	})
}

// checkInFrame: the encoding of res into call.Frame is the encoding of res
// anywhere, and data lies inside it.
func checkInFrame(t *testing.T, call *Call, res Result, data []byte) {
	t.Helper()
	if call.Frame == nil {
		t.Fatalf("%s: call.Frame = nil, want the response's frame", call.Op)
	}
	h := protocol.ResponseHeader{Version: protocol.Version1, Op: call.Op, ID: 1}
	want, err := protocol.AppendResponse(nil, h, res.Resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.AppendResponse((*call.Frame)[:0], h, res.Resp)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || &got[0] != &(*call.Frame)[:1][0] {
		t.Fatalf("%s: encoding into call.Frame differs from the plain encoding (or moved)", call.Op)
	}
	if &got[len(got)-len(data)] != &data[0] {
		t.Errorf("%s: the response data is not where its frame encodes it", call.Op)
	}
}
