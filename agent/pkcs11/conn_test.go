package pkcs11

import (
	"encoding/binary"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/pkcs11/rpc"
)

// TestInline: which messages the reading goroutine answers itself (calls
// that touch only the connection's state, and size queries), and which
// hand the reader role on (anything that may wait on the core).
func TestInline(t *testing.T) {
	msg := func(call rpc.Call, tail ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(call)), tail...)
	}
	buf := func(n uint32) []byte {
		return binary.BigEndian.AppendUint32([]byte{0, 0, 0, 5, 'u', 'a', 'y', 'f', 'y'}, n)
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want bool
	}{
		{"sign-init", msg(rpc.CallSignInit), true},
		{"get-attribute-value", msg(rpc.CallGetAttributeValue), true},
		{"sign-size-query", msg(rpc.CallSign, buf(0)...), true},
		{"sign", msg(rpc.CallSign, buf(64)...), false},
		{"sign-final-size-query", msg(rpc.CallSignFinal, buf(0)...), true},
		{"decrypt-size-query", msg(rpc.CallDecrypt, buf(0)...), true},
		{"decrypt", msg(rpc.CallDecrypt, buf(256)...), false},
		{"encrypt-size-query", msg(rpc.CallEncrypt, buf(0)...), true},
		{"verify", msg(rpc.CallVerify, buf(0)...), false},
		{"generate-key-pair", msg(rpc.CallGenerateKeyPair, buf(0)...), false},
		{"sign-without-arguments", msg(rpc.CallSign), false},
		{"short", []byte{0, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := inline(tc.msg); got != tc.want {
				t.Errorf("inline(%x) = %v, want %v", tc.msg, got, tc.want)
			}
		})
	}
}
