package protocol

import (
	"bytes"
	"testing"
)

// BenchmarkSignRoundTrip is one Sign exchange as both ends see it: the
// client encodes the request, the server reads and decodes it and encodes
// the answer, the client reads and decodes that. Buffers are reused as the
// hot path would.
func BenchmarkSignRoundTrip(b *testing.B) {
	req := &SignRequest{Alias: "web", Digest: mustHex(sampleDigest), Hash: HashSHA256}
	resp := &SignResponse{Signature: mustHex(sampleSig)}
	var reqBuf, respBuf []byte
	var rd bytes.Reader
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var err error
		reqBuf, err = AppendRequest(reqBuf[:0], RequestHeader{Op: OpSign, ID: uint32(i)}, req)
		if err != nil {
			b.Fatal(err)
		}
		rd.Reset(reqBuf)
		payload, err := ReadFrame(&rd, 0)
		if err != nil {
			b.Fatal(err)
		}
		h, body, err := ParseRequest(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeRequest(h.Op, body); err != nil {
			b.Fatal(err)
		}
		respBuf, err = AppendResponse(respBuf[:0], ResponseHeader{Op: h.Op, ID: h.ID}, resp)
		if err != nil {
			b.Fatal(err)
		}
		rd.Reset(respBuf)
		if payload, err = ReadFrame(&rd, 0); err != nil {
			b.Fatal(err)
		}
		rh, rbody, err := ParseResponse(payload)
		if err != nil {
			b.Fatal(err)
		}
		var got SignResponse
		if err := DecodeResponse(rh, rbody, &got); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendSignRequest(b *testing.B) {
	req := &SignRequest{Alias: "web", Digest: mustHex(sampleDigest), Hash: HashSHA256}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendRequest(buf[:0], RequestHeader{Op: OpSign, ID: 1}, req); err != nil {
			b.Fatal(err)
		}
	}
}
