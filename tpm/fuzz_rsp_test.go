package tpm

import (
	"bytes"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"unsafe"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// The hand-encoded commands' responses are parsed by hand too (rawcmd.go,
// health.go). Whatever the TPM, or something on the bus, sends, they
// return a result or an error, never panic, and never hand on bytes from
// outside the response's own parameter area.

// checkRspErr fails t unless err is one of the errors a parser may give.
func checkRspErr(t *testing.T, op string, err error) {
	t.Helper()
	var rc tpm2.TPMRC
	var f1 tpm2.TPMFmt1Error
	if !errors.Is(err, errMalformed) && !errors.As(err, &rc) && !errors.As(err, &f1) {
		t.Fatalf("%s = %v, want errMalformed or a TPM response code", op, err)
	}
}

// FuzzSignResponse: the response header parsing of sendRaw, then
// parseSignRsp and the DER encoding of what it returns.
func FuzzSignResponse(f *testing.F) {
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x22}) // TPM_RC_RETRY
	f.Add([]byte{0x80, 0x02, 0, 0, 0, 14, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, rsp []byte) {
		hs, params, err := parseSessionsRsp(rsp, 0)
		if err != nil {
			checkRspErr(t, "parseSessionsRsp", err)
			return
		}
		if len(hs) != 0 || !within(rsp, params) {
			t.Fatalf("parseSessionsRsp() = %d handle bytes and params outside the response", len(hs))
		}
		sig, err := parseSignRsp(params)
		if err != nil {
			checkRspErr(t, "parseSignRsp", err)
			return
		}
		enc := encodeRawSignature(sig)
		if sig.alg != tpm2.TPMAlgECDSA {
			if !bytes.Equal(enc, sig.r) {
				t.Fatalf("encodeRawSignature(RSA) = %x, want %x", enc, sig.r)
			}
			return
		}
		var rs struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(enc, &rs)
		if err != nil || len(rest) != 0 {
			t.Fatalf("encodeRawSignature(ECDSA) = %x: asn1.Unmarshal = %v, %d bytes left", enc, err, len(rest))
		}
		if rs.R.Cmp(new(big.Int).SetBytes(sig.r)) != 0 || rs.S.Cmp(new(big.Int).SetBytes(sig.s)) != 0 {
			t.Fatalf("encodeRawSignature(ECDSA) = R %v S %v, want %x %x", rs.R, rs.S, sig.r, sig.s)
		}
	})
}

// FuzzLoadResponse: the response header parsing of sendRaw with one
// handle, then parseLoadRsp.
func FuzzLoadResponse(f *testing.F) {
	f.Add([]byte{0x80, 0x02, 0, 0, 0, 10, 0, 0, 0x09, 0x02}) // TPM_RC_OBJECT_MEMORY
	f.Fuzz(func(t *testing.T, rsp []byte) {
		hs, params, err := parseSessionsRsp(rsp, 1)
		if err != nil {
			checkRspErr(t, "parseSessionsRsp", err)
			return
		}
		if len(hs) != 4 || !within(rsp, params) {
			t.Fatalf("parseSessionsRsp(1 handle) = %d handle bytes, params inside: %v", len(hs), within(rsp, params))
		}
		h, name, err := parseLoadRsp(hs, params)
		if err != nil {
			checkRspErr(t, "parseLoadRsp", err)
			return
		}
		if uint32(h) != uint32(hs[0])<<24|uint32(hs[1])<<16|uint32(hs[2])<<8|uint32(hs[3]) || len(name) > len(params) {
			t.Fatalf("parseLoadRsp() = handle %#x, name of %d bytes from %d parameter bytes", uint32(h), len(name), len(params))
		}
		if len(name) > 0 && &name[0] == &params[2] {
			t.Fatalf("parseLoadRsp() returned a Name aliasing the response buffer")
		}
	})
}

// FuzzTestResultResponse: the TPM2_GetTestResult parser behind the
// failure-mode probe; and the plain header split (sendFlush's) agrees with
// it on what a well-formed header is.
func FuzzTestResultResponse(f *testing.F) {
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01}) // TPM_RC_FAILURE
	f.Fuzz(func(t *testing.T, rsp []byte) {
		_, _, splitErr := splitRsp(rsp)
		result, err := parseTestResultRsp(rsp)
		if err != nil {
			checkRspErr(t, "parseTestResultRsp", err)
			return
		}
		if splitErr != nil {
			t.Fatalf("parseTestResultRsp() = %v, nil but splitRsp() = %v", result, splitErr)
		}
	})
}

// within reports whether sub lies inside b.
func within(b, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	lo, first := uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&sub[0]))
	return first >= lo && first+uintptr(len(sub)) <= lo+uintptr(len(b))
}

// TestWriteResponseFuzzCorpus regenerates the seed corpora of the response
// fuzzers from real swtpm answers:
// TPMKEYD_WRITE_CORPUS=1 go test ./tpm -run TestWriteResponseFuzzCorpus
func TestWriteResponseFuzzCorpus(t *testing.T) {
	if os.Getenv("TPMKEYD_WRITE_CORPUS") != "1" {
		t.Skip("set TPMKEYD_WRITE_CORPUS=1 to regenerate the fuzz corpus")
	}
	tt, in := openFaulty(t)
	var mu sync.Mutex
	var last []byte
	in.set(func(cc tpm2.TPMCC, cmd []byte, next transport.TPM) ([]byte, error) {
		rsp, err := next.Send(cmd)
		mu.Lock()
		last = bytes.Clone(rsp)
		mu.Unlock()
		return rsp, err
	})
	write := func(target, name string) {
		mu.Lock()
		defer mu.Unlock()
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", last)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		spec KeySpec
		opts SignOptions
	}{
		{"ec-p256-sha256", KeySpec{Algorithm: ECCP256, Purposes: PurposeSign}, SignOptions{Hash: 5}},
		{"ec-p384-sha384", KeySpec{Algorithm: ECCP384, Purposes: PurposeSign}, SignOptions{Hash: 6}},
		{"rsa-2048-pkcs1", KeySpec{Algorithm: RSA2048, Purposes: PurposeSign}, SignOptions{Hash: 5}},
		{"rsa-2048-pss", KeySpec{Algorithm: RSA2048, Purposes: PurposeSign}, SignOptions{Hash: 5, PSS: true}},
	} {
		b, _, err := tt.CreateKey(ctx(), tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		tt.Forget(b)
		tt.inTurn(t, func() {
			p, err := parseBlob(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tt.loadLocked(tt.wire, p); err != nil {
				t.Fatal(err)
			}
		})
		write("FuzzLoadResponse", tc.spec.Algorithm.String())
		if _, err := tt.Sign(ctx(), b, Auth{}, make([]byte, tc.opts.Hash.Size()), tc.opts); err != nil {
			t.Fatal(err)
		}
		write("FuzzSignResponse", tc.name)
	}
	mac, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tt.HMAC(ctx(), mac, Auth{}, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	write("FuzzHMACResponse", "hmac-sha256-32-bytes")
	tt.inTurn(t, func() {
		if err := tt.probeLocked(); err != nil {
			t.Fatal(err)
		}
	})
	write("FuzzTestResultResponse", "swtpm-healthy")
	tt.inTurn(t, func() { tt.wire.Send(flushCmd(0x80ffffff)) })
	write("FuzzTestResultResponse", "flush-bad-handle")
	write("FuzzSignResponse", "flush-bad-handle")
	write("FuzzLoadResponse", "flush-bad-handle")
	write("FuzzHMACResponse", "flush-bad-handle")
}

// FuzzHMACResponse: the response header parsing of sendRaw, then
// parseHMACRsp, whose tag must be a copy of exactly 32 bytes.
func FuzzHMACResponse(f *testing.F) {
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x22}) // TPM_RC_RETRY
	f.Add([]byte{0x80, 0x02, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 2, 0, 32})
	f.Fuzz(func(t *testing.T, rsp []byte) {
		_, params, err := parseSessionsRsp(rsp, 0)
		if err != nil {
			checkRspErr(t, "parseSessionsRsp", err)
			return
		}
		tag, err := parseHMACRsp(params)
		if err != nil {
			checkRspErr(t, "parseHMACRsp", err)
			return
		}
		if len(tag) != 32 || within(rsp, tag) || !bytes.Equal(tag, params[2:]) {
			t.Fatalf("parseHMACRsp(%x) = %x, want a copy of its 32 bytes", params, tag)
		}
	})
}

// FuzzHMACSessionResponse: parseHMACSessionRsp on whatever comes back,
// with a fixed session: a 32-byte tag in a buffer of its own, or an error.
func FuzzHMACSessionResponse(f *testing.F) {
	pin := []byte("1234")
	f.Add(hmacSessionRsp(fakeSession(), pin, make([]byte, 32), make([]byte, nonceSize), attrContinue))
	f.Add([]byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x8e}) // TPM_RC_AUTH_FAIL, session 1
	f.Fuzz(func(t *testing.T, rsp []byte) {
		tag, err := parseHMACSessionRsp(rsp, fakeSession(), pin, len(rsp)%2 == 1) // both ways
		if err != nil {
			checkRspErr(t, "parseHMACSessionRsp", err)
			return
		}
		if len(tag) != 32 || within(rsp, tag) {
			t.Fatalf("parseHMACSessionRsp(%x) = %x, want a copy of 32 bytes", rsp, tag)
		}
	})
}
