//go:build linux

package agent

import (
	"bytes"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestMACKeys: hmac-sha256 keys stay in the TPM and make and check MACs,
// with versions, PINs and purposes enforced as for the other keys, and a
// restart keeps them.
func TestMACKeys(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	data := []byte("the data")
	big := bytes.Repeat([]byte{'b'}, protocol.MaxMACData)
	var tag []byte
	var bigTag []byte
	runOpCases(t, c, []opCase{
		{name: "keygen", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "m", Algorithm: protocol.AlgHMACSHA256},
			check: func(t *testing.T, resp any) {
				k := resp.(*protocol.GenerateKeyResponse).Key
				if len(k.Purposes) != 1 || k.Purposes[0] != protocol.PurposeMAC || k.PublicKey != nil ||
					len(k.Versions) != 1 || k.Versions[0].Number != 1 || k.Versions[0].State != protocol.VersionEnabled {
					t.Errorf("GenerateKey(hmac-sha256) = %+v, want purpose mac, no public key, version 1 enabled", k)
				}
			}},
		{name: "keygen-with-pin", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "mp", Algorithm: protocol.AlgHMACSHA256, PIN: []byte("1234")}},
		{name: "keygen-sign-purpose", op: protocol.OpGenerateKey, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.GenerateKeyRequest{Alias: "x", Algorithm: protocol.AlgHMACSHA256, Purposes: []string{protocol.PurposeSign}}},
		{name: "ec-with-mac-purpose", op: protocol.OpGenerateKey, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.GenerateKeyRequest{Alias: "x", Algorithm: protocol.AlgECP256, Purposes: []string{protocol.PurposeMAC}}},
		{name: "ec-key", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "ec", Algorithm: protocol.AlgECP256}},
		{name: "mac", op: protocol.OpMAC, want: protocol.StatusOK, req: &protocol.MACRequest{Alias: "m", Data: data},
			check: func(t *testing.T, resp any) {
				r := resp.(*protocol.MACResponse)
				if len(r.Tag) != 32 || r.Version != 1 {
					t.Errorf("MAC = %x version %d, want 32 bytes from version 1", r.Tag, r.Version)
				}
				tag = r.Tag
			}},
		{name: "mac-64KiB", op: protocol.OpMAC, want: protocol.StatusOK, req: &protocol.MACRequest{Alias: "m", Data: big},
			check: func(t *testing.T, resp any) { bigTag = resp.(*protocol.MACResponse).Tag }},
		{name: "mac-over-64KiB", op: protocol.OpMAC, want: protocol.StatusBadRequest,
			req: &protocol.MACRequest{Alias: "m", Data: append(big, 'b')}},
		{name: "mac-with-ec-key", op: protocol.OpMAC, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.MACRequest{Alias: "ec", Data: data}},
		{name: "sign-with-mac-key", op: protocol.OpSign, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.SignRequest{Alias: "m", Hash: protocol.HashSHA256, Message: data}},
		{name: "unseal-mac-key", op: protocol.OpUnseal, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.UnsealRequest{Alias: "m"}},
		{name: "mac-pin-missing", op: protocol.OpMAC, want: protocol.StatusWrongPIN, req: &protocol.MACRequest{Alias: "mp", Data: data}},
		{name: "mac-pin-right", op: protocol.OpMAC, want: protocol.StatusOK,
			req: &protocol.MACRequest{Alias: "mp", Data: data, PIN: []byte("1234")}},
		{name: "mac-pin-wrong", op: protocol.OpMAC, want: protocol.StatusWrongPIN,
			req: &protocol.MACRequest{Alias: "mp", Data: data, PIN: []byte("4321")}},
	})
	verify := func(name string, tag []byte, version uint32, d []byte, want bool) opCase {
		return opCase{name: name, op: protocol.OpVerifyMAC, want: protocol.StatusOK,
			req: &protocol.VerifyMACRequest{Alias: "m", Data: d, Tag: tag, Version: version},
			check: func(t *testing.T, resp any) {
				if got := resp.(*protocol.VerifyMACResponse).Valid; got != want {
					t.Errorf("VerifyMAC(%s) = %v, want %v", name, got, want)
				}
			}}
	}
	flipped := bytes.Clone(tag)
	flipped[31] ^= 1
	runOpCases(t, c, []opCase{
		verify("right", tag, 0, data, true),
		verify("right-version-1", tag, 1, data, true),
		verify("version-2-does-not-exist", tag, 2, data, false),
		verify("flipped-bit", flipped, 0, data, false),
		verify("other-data", tag, 0, []byte("other"), false),
		verify("64KiB", bigTag, 0, big, true),
		{name: "short-tag", op: protocol.OpVerifyMAC, want: protocol.StatusBadRequest,
			req: &protocol.VerifyMACRequest{Alias: "m", Data: data, Tag: tag[:16]}},
	})

	// The key and its tags survive a restart: the same key in the TPM.
	if err := td.stop(); err != nil {
		t.Fatal(err)
	}
	td2 := runDaemon(t, td.sw, td.opts, td.logs, td.audit)
	runOpCases(t, dialHello(t, td2.socket), []opCase{verify("after-restart", tag, 0, data, true)})
}
