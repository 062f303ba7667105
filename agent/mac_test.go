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

// TestRotateMACKey: a rotation adds version 2, new MACs come from it, and
// tags of version 1 still verify; PIN keys keep their PIN; asymmetric keys
// do not rotate; concurrent rotations never lose a version.
func TestRotateMACKey(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	data := []byte("rotate me")
	var v1Tag []byte
	runOpCases(t, c, []opCase{
		{name: "keygen", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "m", Algorithm: protocol.AlgHMACSHA256}},
		{name: "mac-v1", op: protocol.OpMAC, want: protocol.StatusOK, req: &protocol.MACRequest{Alias: "m", Data: data},
			check: func(t *testing.T, resp any) { v1Tag = resp.(*protocol.MACResponse).Tag }},
		{name: "rotate", op: protocol.OpRotateKey, want: protocol.StatusOK, req: &protocol.RotateKeyRequest{Alias: "m"},
			check: func(t *testing.T, resp any) {
				vs := resp.(*protocol.RotateKeyResponse).Key.Versions
				if len(vs) != 2 || vs[1].Number != 2 || vs[1].State != protocol.VersionEnabled {
					t.Errorf("RotateKey versions = %+v, want 1 and 2, enabled", vs)
				}
			}},
		{name: "mac-v2", op: protocol.OpMAC, want: protocol.StatusOK, req: &protocol.MACRequest{Alias: "m", Data: data},
			check: func(t *testing.T, resp any) {
				r := resp.(*protocol.MACResponse)
				if r.Version != 2 || bytes.Equal(r.Tag, v1Tag) {
					t.Errorf("MAC after rotation = version %d, same tag %v; want version 2, a new tag", r.Version, bytes.Equal(r.Tag, v1Tag))
				}
			}},
		{name: "ec-key", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "ec", Algorithm: protocol.AlgECP256}},
		{name: "rotate-ec", op: protocol.OpRotateKey, want: protocol.StatusUnsupportedAlgorithm, req: &protocol.RotateKeyRequest{Alias: "ec"}},
		{name: "rotate-missing", op: protocol.OpRotateKey, want: protocol.StatusKeyNotFound, req: &protocol.RotateKeyRequest{Alias: "nope"}},
		{name: "pin-key", op: protocol.OpGenerateKey, want: protocol.StatusOK,
			req: &protocol.GenerateKeyRequest{Alias: "mp", Algorithm: protocol.AlgHMACSHA256, PIN: []byte("1234")}},
		{name: "rotate-pin-wrong", op: protocol.OpRotateKey, want: protocol.StatusWrongPIN,
			req: &protocol.RotateKeyRequest{Alias: "mp", PIN: []byte("4321")}},
		{name: "rotate-pin-right", op: protocol.OpRotateKey, want: protocol.StatusOK,
			req: &protocol.RotateKeyRequest{Alias: "mp", PIN: []byte("1234")}},
		{name: "pin-key-v2-keeps-pin", op: protocol.OpMAC, want: protocol.StatusOK,
			req: &protocol.MACRequest{Alias: "mp", Data: data, PIN: []byte("1234")},
			check: func(t *testing.T, resp any) {
				if v := resp.(*protocol.MACResponse).Version; v != 2 {
					t.Errorf("MAC with the PIN key after rotation = version %d, want 2", v)
				}
			}},
	})
	runOpCases(t, c, []opCase{{name: "v1-tag-still-verifies", op: protocol.OpVerifyMAC, want: protocol.StatusOK,
		req: &protocol.VerifyMACRequest{Alias: "m", Data: data, Tag: v1Tag},
		check: func(t *testing.T, resp any) {
			if !resp.(*protocol.VerifyMACResponse).Valid {
				t.Errorf("VerifyMAC of a version-1 tag after rotation = false, want true")
			}
		}}})

	// Concurrent rotations: each either adds a version or is BUSY; none is lost.
	var reqs []any
	for range 8 {
		reqs = append(reqs, &protocol.RotateKeyRequest{Alias: "m"})
	}
	got := countStatus(pipeline(t, c, protocol.OpRotateKey, reqs))
	if got[protocol.StatusOK]+got[protocol.StatusBusy] != 8 || got[protocol.StatusOK] == 0 {
		t.Fatalf("8 concurrent rotations = %v, want only OK and BUSY, at least one OK", got)
	}
	var k protocol.GetKeyResponse
	if st, msg := c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "m"}, &k); st != protocol.StatusOK {
		t.Fatalf("GetKey = %v (%s)", st, msg)
	}
	if want := 2 + got[protocol.StatusOK]; len(k.Key.Versions) != want {
		t.Errorf("versions after %d more rotations = %d, want %d", got[protocol.StatusOK], len(k.Key.Versions), want)
	}
	for i, v := range k.Key.Versions {
		if v.Number != uint32(i+1) {
			t.Errorf("version %d numbered %d, want %d", i, v.Number, i+1)
		}
	}
}
