package pkcs11_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// rpcConn is a bare p11-kit RPC client, to send what Debian's client
// cannot (CKM_ECDH1_DERIVE's parameters, as newer p11-kit encodes them)
// and what no client should (malformed messages).
type rpcConn struct {
	t    testing.TB
	nc   net.Conn
	code uint32
}

func dialRPC(t testing.TB, sock string) *rpcConn {
	t.Helper()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write([]byte{2}); err != nil { // offer version 2, as p11-kit 0.25 does
		t.Fatal(err)
	}
	var v [1]byte
	if _, err := io.ReadFull(nc, v[:]); err != nil || v[0] != 0 {
		t.Fatalf("version byte = %d, %v; want 0", v[0], err)
	}
	return &rpcConn{t: t, nc: nc, code: 0x10}
}

// enc builds request messages.
type enc struct{ b []byte }

func newMsg(call uint32, sig string) *enc {
	e := &enc{}
	e.u32(call)
	e.bytes([]byte(sig))
	return e
}
func (e *enc) u32(v uint32) *enc   { e.b = binary.BigEndian.AppendUint32(e.b, v); return e }
func (e *enc) u64(v uint64) *enc   { e.b = binary.BigEndian.AppendUint64(e.b, v); return e }
func (e *enc) byte(v byte) *enc    { e.b = append(e.b, v); return e }
func (e *enc) bytes(b []byte) *enc { e.u32(uint32(len(b))); e.b = append(e.b, b...); return e }

// send writes one frame and reads its answer; ok is false when the
// connection was closed instead.
func (c *rpcConn) send(msg []byte) (resp []byte, ok bool) {
	c.t.Helper()
	c.code++
	hdr := binary.BigEndian.AppendUint32(nil, c.code)
	hdr = binary.BigEndian.AppendUint32(hdr, 0)
	hdr = binary.BigEndian.AppendUint32(hdr, uint32(len(msg)))
	if _, err := c.nc.Write(append(hdr, msg...)); err != nil {
		return nil, false
	}
	return c.read()
}

func (c *rpcConn) read() ([]byte, bool) {
	var h [12]byte
	if _, err := io.ReadFull(c.nc, h[:]); err != nil {
		return nil, false
	}
	n := binary.BigEndian.Uint32(h[8:])
	b := make([]byte, n)
	if _, err := io.ReadFull(c.nc, b); err != nil {
		return nil, false
	}
	return b, true
}

// call sends msg and returns the CK_RV and the response's arguments.
func (c *rpcConn) call(msg []byte) (rv uint64, args []byte) {
	c.t.Helper()
	resp, ok := c.send(msg)
	if !ok {
		c.t.Fatalf("connection closed")
	}
	id := binary.BigEndian.Uint32(resp)
	sigLen := binary.BigEndian.Uint32(resp[4:])
	args = resp[8+sigLen:]
	if id == 0 {
		return binary.BigEndian.Uint64(args), nil
	}
	return 0, args
}

const handshake = "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1"

func (c *rpcConn) initialize() {
	c.t.Helper()
	m := newMsg(1, "ayyay").byte(1).bytes([]byte(handshake)).byte(0).byte(0)
	if rv, _ := c.call(m.b); rv != 0 {
		c.t.Fatalf("C_Initialize = %#x", rv)
	}
}

func (c *rpcConn) openSession() uint64 {
	c.t.Helper()
	rv, args := c.call(newMsg(10, "uu").u64(1).u64(6).b)
	if rv != 0 {
		c.t.Fatalf("C_OpenSession = %#x", rv)
	}
	return binary.BigEndian.Uint64(args)
}

// findOne returns the first object whose CKA_LABEL and CKA_CLASS match.
func (c *rpcConn) findOne(sess uint64, label string, class uint64) uint64 {
	c.t.Helper()
	m := newMsg(26, "uaA").u64(sess).u32(2)
	m.u32(0x0).byte(1).u32(8).u64(class)
	m.u32(0x3).byte(1).u32(uint32(len(label))).bytes([]byte(label))
	if rv, _ := c.call(m.b); rv != 0 {
		c.t.Fatalf("C_FindObjectsInit = %#x", rv)
	}
	rv, args := c.call(newMsg(27, "ufu").u64(sess).u32(4).b)
	if rv != 0 || args[0] != 1 || binary.BigEndian.Uint32(args[1:]) == 0 {
		c.t.Fatalf("C_FindObjects(%s) = %#x %x, want one object", label, rv, args)
	}
	h := binary.BigEndian.Uint64(args[5:])
	c.call(newMsg(28, "u").u64(sess).b)
	return h
}

// TestDeriveOverRPC derives an ECDH secret with the token's key, sending
// CKM_ECDH1_DERIVE the way p11-kit 0.25 and later encode it, and checks
// it against the peer's own computation.
func TestDeriveOverRPC(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	c := s.dial(t)
	k, err := c.GenerateKey(ctx, "agree", client.AlgECP256, client.WithPurposes(client.PurposeAgree))
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	rc := dialRPC(t, s.p11sock)
	rc.initialize()
	sess := rc.openSession()
	key := rc.findOne(sess, "agree", 3)
	m := newMsg(62, "uMuaA").u64(sess).u32(0x1050).u64(1).u32(0xffffffff).bytes(peer.PublicKey().Bytes()).u64(key)
	m.u32(2).u32(0x0).byte(1).u32(8).u64(4).u32(0x1).byte(1).u32(1).byte(0) // CKO_SECRET_KEY, CKA_TOKEN false
	rv, args := rc.call(m.b)
	if rv != 0 {
		t.Fatalf("C_DeriveKey = %#x", rv)
	}
	secretH := binary.BigEndian.Uint64(args)
	rv, args = rc.call(newMsg(24, "uufA").u64(sess).u64(secretH).u32(1).u32(0x11).u32(64).b)
	if rv != 0 {
		t.Fatalf("C_GetAttributeValue(CKA_VALUE) = %#x", rv)
	}
	// aA: count, type, valid, len, byte array (len + bytes), then the CK_RV.
	n := binary.BigEndian.Uint32(args[9:])
	got := args[17 : 17+n]
	ownPub, err := ecdh.P256().NewPublicKey(mustRaw(t, k))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := peer.ECDH(ownPub)
	if !bytes.Equal(got, want) {
		t.Errorf("derived CKA_VALUE = %x, want %x (the peer's ECDH)", got, want)
	}
	// The private key's value stays sensitive.
	rv, args = rc.call(newMsg(24, "uufA").u64(sess).u64(key).u32(1).u32(0x11).u32(64).b)
	if rv != 0 || binary.BigEndian.Uint64(args[len(args)-8:]) != 0x11 {
		t.Errorf("C_GetAttributeValue(private CKA_VALUE) = %#x %x, want CKR_ATTRIBUTE_SENSITIVE", rv, args)
	}
}

func mustRaw(t *testing.T, k *client.Key) []byte {
	t.Helper()
	pk, err := ecdhPub(k)
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// TestMalformedRPC sends bad messages to the daemon's PKCS#11 socket:
// each gets an error answer or a closed connection, never a crash, and
// the daemon serves the next caller.
func TestMalformedRPC(t *testing.T) {
	s := startStack(t)
	tests := []struct {
		name  string
		frame []byte // a whole frame (header and message)
		rv    uint64 // the CK_RV answered; 0: the connection is closed
	}{
		{"zero-code", frame(0, []byte{0, 0, 0, 3, 0, 0, 0, 0}), 0},
		{"empty-message", frame(5, nil), 0},
		{"huge-length", append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 5), 0), 0xfffffff0), 1, 2, 3), 0},
		{"huge-options", append(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 5), 1<<30), 4), 1, 2, 3), 0},
		{"unknown-call", frame(5, newMsg(4000, "").b), 0x54},
		{"new-call-not-served", frame(5, newMsg(66, "uuayay").b), 0x54},
		{"wrong-signature", frame(5, newMsg(3, "u").u64(1).b), 0x30},
		{"truncated", frame(5, newMsg(10, "uu").u64(1).b), 0x30},
		{"trailing-bytes", frame(5, newMsg(3, "").u64(1).b), 0x30},
		{"absurd-attribute-count", frame(5, newMsg(26, "uaA").u64(1).u32(0xffffffff).b), 0x30},
		{"absurd-attr-buffer", frame(5, newMsg(24, "uufA").u64(1).u64(1).u32(1<<30).b), 0x30},
		{"byte-array-past-end", frame(5, newMsg(43, "uayfy").u64(1).byte(1).u32(1<<29).b), 0x30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := dialRPC(t, s.p11sock)
			rc.initialize()
			if _, err := rc.nc.Write(tt.frame); err != nil {
				t.Fatal(err)
			}
			resp, ok := rc.read()
			switch {
			case tt.rv == 0 && ok:
				t.Errorf("answer to %s = %x, want the connection closed", tt.name, resp)
			case tt.rv != 0 && !ok:
				t.Errorf("answer to %s = connection closed, want CK_RV %#x", tt.name, tt.rv)
			case tt.rv != 0:
				if id, rv := binary.BigEndian.Uint32(resp), binary.BigEndian.Uint64(resp[len(resp)-8:]); id != 0 || rv != tt.rv {
					t.Errorf("answer to %s = call %d rv %#x, want an error response %#x", tt.name, id, rv, tt.rv)
				}
			}
		})
	}
	// Still serving: a well-formed session works.
	rc := dialRPC(t, s.p11sock)
	rc.initialize()
	rc.openSession()
	if !s.Daemon.Running() {
		t.Fatalf("daemon exited:\n%s", s.Daemon.Log())
	}
	if rss, err := s.Daemon.RSS(); err == nil && rss > 200<<20 {
		t.Errorf("daemon RSS after the malformed messages = %d MiB, want well under 200", rss>>20)
	}
}

func frame(code uint32, msg []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, code)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	return append(b, msg...)
}

// TestMechanismsOverRPC signs with the mechanisms Debian 12's client does
// not forward, encoded as p11-kit 0.25 and later send them: CKM_ECDSA_SHA256
// (single- and multi-part) and CKM_SHA256_RSA_PKCS_PSS, and checks the
// signatures with Go's crypto.
func TestMechanismsOverRPC(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	c := s.dial(t)
	ec, err := c.GenerateKey(ctx, "ec", client.AlgECP256)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := c.GenerateKey(ctx, "rsa", client.AlgRSA2048)
	if err != nil {
		t.Fatal(err)
	}
	rc := dialRPC(t, s.p11sock)
	rc.initialize()
	sess := rc.openSession()
	ecH, rsaH := rc.findOne(sess, "ec", 3), rc.findOne(sess, "rsa", 3)
	data := []byte("data the daemon hashes")
	d := sha256.Sum256(data)

	signInit := func(m []byte) {
		t.Helper()
		if rv, _ := rc.call(m); rv != 0 {
			t.Fatalf("C_SignInit = %#x", rv)
		}
	}
	readSig := func(rv uint64, args []byte) []byte {
		t.Helper()
		if rv != 0 || len(args) < 5 || args[0] != 1 {
			t.Fatalf("signature answer = %#x %x", rv, args)
		}
		n := binary.BigEndian.Uint32(args[1:])
		return args[5 : 5+n]
	}
	ecInit := newMsg(42, "uMu").u64(sess).u32(0x1044).u32(0xffffffff).u64(ecH).b // CKM_ECDSA_SHA256
	// Single part.
	signInit(ecInit)
	sig := readSig(rc.call(newMsg(43, "uayfy").u64(sess).byte(1).bytes(data).u32(64).b))
	if !ecdsa.Verify(ec.PublicKey.(*ecdsa.PublicKey), d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Errorf("CKM_ECDSA_SHA256 C_Sign: signature does not verify")
	}
	// Multi-part: C_SignUpdate twice, C_SignFinal with a size query first.
	signInit(ecInit)
	for _, part := range [][]byte{data[:5], data[5:]} {
		if rv, _ := rc.call(newMsg(44, "uay").u64(sess).byte(1).bytes(part).b); rv != 0 {
			t.Fatalf("C_SignUpdate = %#x", rv)
		}
	}
	rv, args := rc.call(newMsg(45, "ufy").u64(sess).u32(0).b)
	if rv != 0 || args[0] != 0 || binary.BigEndian.Uint32(args[1:]) != 64 {
		t.Fatalf("C_SignFinal size query = %#x %x, want length 64", rv, args)
	}
	sig = readSig(rc.call(newMsg(45, "ufy").u64(sess).u32(64).b))
	if !ecdsa.Verify(ec.PublicKey.(*ecdsa.PublicKey), d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Errorf("CKM_ECDSA_SHA256 C_SignFinal: signature does not verify")
	}
	// CKM_SHA256_RSA_PKCS_PSS: hashAlg SHA-256, MGF1-SHA-256, sLen 32.
	signInit(newMsg(42, "uMu").u64(sess).u32(0x43).u64(0x250).u64(2).u64(32).u64(rsaH).b)
	sig = readSig(rc.call(newMsg(43, "uayfy").u64(sess).byte(1).bytes(data).u32(256).b))
	if err := rsa.VerifyPSS(rk.PublicKey.(*rsa.PublicKey), crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: 32}); err != nil {
		t.Errorf("CKM_SHA256_RSA_PKCS_PSS: %v", err)
	}
	// The wrong salt length is refused at C_SignInit.
	if rv, _ := rc.call(newMsg(42, "uMu").u64(sess).u32(0x43).u64(0x250).u64(2).u64(20).u64(rsaH).b); rv != 0x71 {
		t.Errorf("C_SignInit(PSS, sLen 20) = %#x, want CKR_MECHANISM_PARAM_INVALID", rv)
	}
	// An RSA mechanism on the EC key is CKR_KEY_TYPE_INCONSISTENT.
	if rv, _ := rc.call(newMsg(42, "uMu").u64(sess).u32(0x40).u32(0xffffffff).u64(ecH).b); rv != 0x63 {
		t.Errorf("C_SignInit(SHA256_RSA_PKCS, EC key) = %#x, want CKR_KEY_TYPE_INCONSISTENT", rv)
	}
}

// TestVerifyEncryptOverRPC: C_Verify (single and multi-part) on a public
// key object, and C_Encrypt to an RSA public key object whose ciphertexts
// the TPM decrypts (through the native client and through C_Decrypt).
func TestVerifyEncryptOverRPC(t *testing.T) {
	s := startStack(t)
	ctx := context.Background()
	c := s.dial(t)
	if _, err := c.GenerateKey(ctx, "ec", client.AlgECP256); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GenerateKey(ctx, "rsa", client.AlgRSA2048, client.WithPurposes(client.PurposeSign, client.PurposeDecrypt)); err != nil {
		t.Fatal(err)
	}
	rc := dialRPC(t, s.p11sock)
	rc.initialize()
	sess := rc.openSession()
	ecPriv, ecPub := rc.findOne(sess, "ec", 3), rc.findOne(sess, "ec", 2)
	rsaPriv, rsaPub := rc.findOne(sess, "rsa", 3), rc.findOne(sess, "rsa", 2)
	data := []byte("data the daemon hashes")
	mechECDSASHA256 := func(key uint64) []byte {
		return newMsg(42, "uMu").u64(sess).u32(0x1044).u32(0xffffffff).u64(key).b
	}
	if rv, _ := rc.call(mechECDSASHA256(ecPriv)); rv != 0 {
		t.Fatalf("C_SignInit = %#x", rv)
	}
	rv, args := rc.call(newMsg(43, "uayfy").u64(sess).byte(1).bytes(data).u32(64).b)
	if rv != 0 || len(args) != 69 {
		t.Fatalf("C_Sign = %#x %x", rv, args)
	}
	sig := args[5:]
	verifyInit := func(key uint64) {
		t.Helper()
		m := mechECDSASHA256(key)
		m[3] = 48 // C_VerifyInit
		if rv, _ := rc.call(m); rv != 0 {
			t.Fatalf("C_VerifyInit = %#x", rv)
		}
	}
	bad := append([]byte(nil), sig...)
	bad[10] ^= 1
	for _, tc := range []struct {
		name string
		key  uint64
		sig  []byte
		want uint64
	}{
		{"public-key", ecPub, sig, 0},
		{"private-key-object", ecPriv, sig, 0},
		{"changed", ecPub, bad, 0xc0},    // CKR_SIGNATURE_INVALID
		{"short", ecPub, sig[:63], 0xc1}, // CKR_SIGNATURE_LEN_RANGE
	} {
		t.Run("verify-"+tc.name, func(t *testing.T) {
			verifyInit(tc.key)
			if rv, _ := rc.call(newMsg(49, "uayay").u64(sess).byte(1).bytes(data).byte(1).bytes(tc.sig).b); rv != tc.want {
				t.Errorf("C_Verify = %#x, want %#x", rv, tc.want)
			}
		})
	}
	t.Run("verify-multi-part", func(t *testing.T) {
		verifyInit(ecPub)
		for _, part := range [][]byte{data[:7], data[7:]} {
			if rv, _ := rc.call(newMsg(50, "uay").u64(sess).byte(1).bytes(part).b); rv != 0 {
				t.Fatalf("C_VerifyUpdate = %#x", rv)
			}
		}
		if rv, _ := rc.call(newMsg(51, "uay").u64(sess).byte(1).bytes(sig).b); rv != 0 {
			t.Errorf("C_VerifyFinal = %#x, want CKR_OK", rv)
		}
	})
	t.Run("verify-sha1-refused-by-default", func(t *testing.T) {
		// A SHA-1 DigestInfo with CKM_RSA_PKCS: the core refuses SHA-1
		// without pkcs11_allow_sha1, which the token answers
		// CKR_DATA_INVALID, as for C_Sign.
		if rv, _ := rc.call(newMsg(48, "uMu").u64(sess).u32(1).u32(0xffffffff).u64(rsaPub).b); rv != 0 {
			t.Fatalf("C_VerifyInit(CKM_RSA_PKCS) = %#x", rv)
		}
		di := append([]byte{0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14}, make([]byte, 20)...)
		if rv, _ := rc.call(newMsg(49, "uayay").u64(sess).byte(1).bytes(di).byte(1).bytes(make([]byte, 256)).b); rv != 0x20 {
			t.Errorf("C_Verify(SHA-1 DigestInfo) = %#x, want CKR_DATA_INVALID", rv)
		}
	})
	t.Run("sign-init-on-public-key", func(t *testing.T) {
		if rv, _ := rc.call(mechECDSASHA256(ecPub)); rv != 0x63 {
			t.Errorf("C_SignInit(public key) = %#x, want CKR_KEY_TYPE_INCONSISTENT", rv)
		}
	})
	plain := []byte("a secret for the TPM")
	encrypt := func(t *testing.T, mech []byte) []byte {
		t.Helper()
		init := newMsg(29, "uMu").u64(sess)
		init.b = append(init.b, mech...)
		init.u64(rsaPub)
		if rv, _ := rc.call(init.b); rv != 0 {
			t.Fatalf("C_EncryptInit = %#x", rv)
		}
		rv, args := rc.call(newMsg(30, "uayfy").u64(sess).byte(1).bytes(plain).u32(0).b)
		if rv != 0 || args[0] != 0 || binary.BigEndian.Uint32(args[1:]) != 256 {
			t.Fatalf("C_Encrypt size query = %#x %x, want length 256", rv, args)
		}
		rv, args = rc.call(newMsg(30, "uayfy").u64(sess).byte(1).bytes(plain).u32(256).b)
		if rv != 0 || len(args) != 5+256 {
			t.Fatalf("C_Encrypt = %#x %x", rv, args)
		}
		return args[5:]
	}
	t.Run("encrypt-oaep", func(t *testing.T) {
		oaep := (&enc{}).u32(9).u64(0x250).u64(2).u64(1).u32(0).b // SHA-256, MGF1-SHA-256, empty label
		ct := encrypt(t, oaep)
		got, err := c.Decrypt(ctx, "rsa", ct)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Decrypt(C_Encrypt OAEP) = %q, %v, want %q", got, err, plain)
		}
	})
	t.Run("encrypt-pkcs1", func(t *testing.T) {
		pkcs1 := (&enc{}).u32(1).u32(0xffffffff).b
		ct := encrypt(t, pkcs1)
		init := newMsg(33, "uMu").u64(sess)
		init.b = append(init.b, pkcs1...)
		if rv, _ := rc.call(init.u64(rsaPriv).b); rv != 0 {
			t.Fatalf("C_DecryptInit = %#x", rv)
		}
		rv, args := rc.call(newMsg(34, "uayfy").u64(sess).byte(1).bytes(ct).u32(256).b)
		if rv != 0 || len(args) < 5 || !bytes.Equal(args[5:], plain) {
			t.Errorf("C_Decrypt(C_Encrypt PKCS #1) = %#x %x, want %q", rv, args, plain)
		}
	})
}

// TestReadTimeoutRPC: a frame split across writes is read whole; a frame
// (or its header) that stops arriving closes the connection after
// limits.read_timeout; an idle connection, between frames, is never
// closed (p11-kit's client does not reconnect).
func TestReadTimeoutRPC(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "tpmkeyd.toml")
	if err := os.WriteFile(cfg, []byte("[limits]\nread_timeout = \"1s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startStack(t, "--config", cfg)
	frame := func(code uint32, msg []byte) []byte {
		b := binary.BigEndian.AppendUint32(nil, code)
		b = binary.BigEndian.AppendUint32(b, 0)
		b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
		return append(b, msg...)
	}
	getInfo := newMsg(3, "").b // C_GetInfo
	t.Run("split-frame", func(t *testing.T) {
		t.Parallel()
		rc := dialRPC(t, s.p11sock)
		rc.initialize()
		f := frame(0x99, getInfo)
		for _, part := range [][]byte{f[:5], f[5:14], f[14:]} {
			if _, err := rc.nc.Write(part); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
		}
		resp, ok := rc.read()
		if !ok || binary.BigEndian.Uint32(resp) != 3 {
			t.Errorf("C_GetInfo sent in three parts = %x, %v, want its answer", resp, ok)
		}
	})
	t.Run("idle-connection-stays", func(t *testing.T) {
		t.Parallel()
		rc := dialRPC(t, s.p11sock)
		rc.initialize()
		time.Sleep(1500 * time.Millisecond)
		if resp, ok := rc.send(getInfo); !ok || binary.BigEndian.Uint32(resp) != 3 {
			t.Errorf("C_GetInfo after 1.5 s idle = %x, %v, want its answer", resp, ok)
		}
	})
	for _, tc := range []struct {
		name string
		cut  int
	}{
		{"stalled-header", 5},
		{"stalled-message", 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rc := dialRPC(t, s.p11sock)
			rc.initialize()
			if _, err := rc.nc.Write(frame(0x99, getInfo)[:tc.cut]); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rc.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			var b [1]byte
			_, err := rc.nc.Read(b[:])
			if !errors.Is(err, io.EOF) {
				t.Errorf("read after a stalled frame = %v, want EOF (the daemon closes)", err)
			}
			if d := time.Since(start); d < 700*time.Millisecond || d > 4*time.Second {
				t.Errorf("closed after %v, want about read_timeout (1s)", d)
			}
		})
	}
}
