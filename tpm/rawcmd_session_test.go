package tpm

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// fakeSession is a salted session as startSaltedSession leaves it, with
// fixed bytes instead of a TPM's.
func fakeSession() *saltedSession {
	return &saltedSession{
		handle:      0x02000000,
		sessionKey:  bytes.Repeat([]byte{0x3c}, 32),
		nonceCaller: bytes.Repeat([]byte{0x11}, nonceSize),
		nonceTPM:    bytes.Repeat([]byte{0x22}, nonceSize),
	}
}

var testKey = &loadedKey{handle: 0x80000002, name: tpm2.TPM2BName{Buffer: append([]byte{0, 0xb}, bytes.Repeat([]byte{0x7e}, 32)...)}}

// TestHMACSessionCmdMatchesGoTPM: the hand-encoded TPM2_HMAC through the
// salted session is byte for byte what go-tpm sends for the same command
// through the same session (session.go's sessionUse), PIN as HMAC auth.
func TestHMACSessionCmdMatchesGoTPM(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pin    []byte
		n      int
		encOut bool
	}{
		{"pin-32-bytes", []byte("1234"), 32, false},
		{"pin-empty-data", []byte("1234"), 0, false},
		{"pin-1024-bytes", []byte("a longer PIN of some length"), 1024, false},
		{"pin-trailing-zeros", []byte("12\x00\x00"), 32, false},
		{"derive-key-encrypted-result", []byte("1234"), 34, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fakeSession()
			data := bytes.Repeat([]byte{0xa7}, tc.n)
			ct := &cannedTransport{rsp: failRsp}
			_, _ = tpm2.Hmac{
				Handle:  tpm2.AuthHandle{Handle: testKey.handle, Name: testKey.name, Auth: s.use(tc.pin, tc.encOut, false)},
				Buffer:  tpm2.TPM2BMaxBuffer{Buffer: data},
				HashAlg: tpm2.TPMAlgSHA256,
			}.Execute(ct)
			// go-tpm rolled nonceCaller before encoding: s holds the nonce it used.
			attrs := byte(attrContinue)
			if tc.encOut {
				attrs |= attrEncrypt
			}
			got := appendHMACSessionCmd(nil, s, tc.pin, testKey, data, attrs)
			if !bytes.Equal(got, ct.cmd) {
				t.Errorf("appendHMACSessionCmd() = %x, want %x (go-tpm)", got, ct.cmd)
			}
			if len(got) != hmacSessionCmdSize(tc.n) {
				t.Errorf("hmacSessionCmdSize(%d) = %d, want %d", tc.n, hmacSessionCmdSize(tc.n), len(got))
			}
		})
	}
}

// answerFunc is a transport that answers each command with f(command).
type answerFunc func(cmd []byte) []byte

func (f answerFunc) Send(cmd []byte) ([]byte, error) { return f(cmd), nil }

// hmacSessionRsp builds the TPM's successful answer to a TPM2_HMAC through
// s with pin: tag, a new nonceTPM, attrs and the response HMAC.
func hmacSessionRsp(s *saltedSession, pin, tag, newNonce []byte, attrs byte) []byte {
	tag = bytes.Clone(tag)
	if attrs&attrEncrypt != 0 { // as the TPM does: CFB, then the HMAC over the ciphertext
		keyIV := tpm2.KDFa(crypto.SHA256, append(bytes.Clone(s.sessionKey), pin...), "CFB", newNonce, s.nonceCaller, 256)
		block, _ := aes.NewCipher(keyIV[:16])
		cipher.NewCFBEncrypter(block, keyIV[16:]).XORKeyStream(tag, tag)
	}
	params := tpm2.Marshal(tpm2.TPM2BDigest{Buffer: tag})
	h := sha256.New()
	h.Write(make([]byte, 4))
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(tpm2.TPMCCHMAC)))
	h.Write(params)
	mac := sessionHMAC(sessionHMACKey(s, pin), h.Sum(nil), newNonce, s.nonceCaller, nil, attrs)
	b := binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMSTSessions))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(params)))
	b = append(b, params...)
	b = append2B(b, newNonce)
	b = append(b, attrs)
	b = append2B(b, mac)
	binary.BigEndian.PutUint32(b[2:], uint32(len(b)))
	return b
}

// TestHMACSessionRspMatchesGoTPM: go-tpm (validating through sessionUse)
// and the hand parser accept the same answer, give the same tag and leave
// the session with the same nonceTPM; a session the TPM ended is dropped.
func TestHMACSessionRspMatchesGoTPM(t *testing.T) {
	pin := []byte("1234")
	tag := bytes.Repeat([]byte{0x5d}, 32)
	newNonce := bytes.Repeat([]byte{0x9a}, nonceSize)
	for _, tc := range []struct {
		name  string
		attrs byte
	}{{"continue", attrContinue}, {"session-ended", 0}, {"encrypted-result", attrContinue | attrEncrypt}} {
		t.Run(tc.name, func(t *testing.T) {
			goS, ourS := fakeSession(), fakeSession()
			var rsp []byte // answered once go-tpm has rolled its nonceCaller
			want, err := tpm2.Hmac{Handle: tpm2.AuthHandle{Handle: testKey.handle, Name: testKey.name,
				Auth: goS.use(pin, tc.attrs&attrEncrypt != 0, false)}}.Execute(answerFunc(func([]byte) []byte {
				rsp = hmacSessionRsp(goS, pin, tag, newNonce, tc.attrs)
				return rsp
			}))
			if err != nil {
				t.Fatalf("go-tpm Hmac.Execute = %v", err)
			}
			ourS.nonceCaller = bytes.Clone(goS.nonceCaller)
			got, err := parseHMACSessionRsp(rsp, ourS, pin, tc.attrs&attrEncrypt != 0)
			if err != nil || !bytes.Equal(got, want.OutHMAC.Buffer) || !bytes.Equal(got, tag) {
				t.Fatalf("parseHMACSessionRsp() = %x, %v, want %x (go-tpm)", got, err, want.OutHMAC.Buffer)
			}
			if !bytes.Equal(ourS.nonceTPM, goS.nonceTPM) || ourS.handle != goS.handle {
				t.Errorf("session after parseHMACSessionRsp = nonceTPM %x handle %#x, want %x %#x (go-tpm)",
					ourS.nonceTPM, uint32(ourS.handle), goS.nonceTPM, uint32(goS.handle))
			}
		})
	}
}

// TestHMACSessionRspTampered: an answer with any byte changed, cut short
// or answered with a TPM error is refused, never accepted or a panic; a
// TPM error leaves the session's nonces as they were.
func TestHMACSessionRspTampered(t *testing.T) {
	pin := []byte("1234")
	good := hmacSessionRsp(fakeSession(), pin, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, nonceSize), attrContinue)
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if tag, err := parseHMACSessionRsp(bad, fakeSession(), pin, false); err == nil {
			t.Errorf("parseHMACSessionRsp(byte %d flipped) = %x, nil error, want an error", i, tag)
		}
	}
	for n := 0; n < len(good); n++ {
		cut := bytes.Clone(good[:n])
		if n >= 6 {
			binary.BigEndian.PutUint32(cut[2:], uint32(n))
		}
		if tag, err := parseHMACSessionRsp(cut, fakeSession(), pin, false); err == nil {
			t.Errorf("parseHMACSessionRsp(cut to %d bytes) = %x, nil error, want an error", n, tag)
		}
	}
	if _, err := parseHMACSessionRsp(good, fakeSession(), []byte("4321"), false); !errors.Is(err, errMalformed) {
		t.Errorf("parseHMACSessionRsp(other PIN) = %v, want errMalformed (response HMAC)", err)
	}
	for _, rc := range []tpm2.TPMRC{tpm2.TPMRC(0x98e), tpm2.TPMRCRetry, tpm2.TPMRCLockout} {
		t.Run(fmt.Sprintf("rc-%#x", uint32(rc)), func(t *testing.T) {
			s := fakeSession()
			_, err := parseHMACSessionRsp(rcResponse(rc), s, pin, true)
			if !errors.Is(err, rc) {
				t.Errorf("parseHMACSessionRsp(%v) = %v, want it", rc, err)
			}
			if want := fakeSession(); !bytes.Equal(s.nonceTPM, want.nonceTPM) || s.handle != want.handle {
				t.Errorf("session after %v = nonceTPM %x handle %#x, want unchanged", rc, s.nonceTPM, uint32(s.handle))
			}
		})
	}
}

// TestHMACPINSessionRestart: when the TPM no longer knows the kept salted
// session, a PIN MAC starts a new one and succeeds.
func TestHMACPINSessionRestart(t *testing.T) {
	tt := openTest(t)
	key, pin := randomBytes(t, 32), []byte("1234")
	b := knownHMACKey(t, tt.TPM, key, pin)
	data := []byte("data")
	if _, err := tt.HMAC(ctx(), b, Auth{PIN: pin}, data); err != nil {
		t.Fatalf("HMAC(warm) = %v", err)
	}
	var old tpm2.TPMHandle
	tt.inTurn(t, func() {
		old = tt.sess.handle
		if err := sendFlush(tt.wire, old); err != nil {
			t.Fatalf("FlushContext(session) = %v", err)
		}
	})
	got, err := tt.HMAC(ctx(), b, Auth{PIN: pin}, data)
	if want := goHMAC(key, data); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("HMAC(after the session was flushed) = %x, %v, want %x", got, err, want)
	}
	tt.inTurn(t, func() {
		if tt.sess == nil || tt.sess.handle == 0 {
			t.Errorf("salted session after restart = none, want a new one")
		}
	})
}

// TestBusProbeMAC: on the TPM bus, a MAC with a PIN shows its data and its
// tag (neither is secret: the control that the probe sees the MAC) but
// never the PIN; DeriveKey's result never crosses in the clear.
func TestBusProbeMAC(t *testing.T) {
	sw := swtpmtest.Start(t)
	tap := sw.StartTap()
	tp, err := OpenSpec(ctx(), tap.Spec(), Options{StateDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(%q) = %v", tap.Spec(), err)
	}
	pin := []byte("mac-pin-4e1b7d20-on-the-bus?")
	data := []byte("mac-data-9f03c6e1-not-secret")
	secrets := [][]byte{pin}
	var tags [][]byte
	for _, a := range []Auth{{PIN: pin}, {}} {
		b, _, err := tp.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC, PIN: a.PIN})
		if err != nil {
			t.Fatalf("CreateKey(hmac-sha256, PIN=%v) = %v", len(a.PIN) > 0, err)
		}
		tag, err := tp.HMAC(ctx(), b, a, data)
		if err != nil {
			t.Fatalf("HMAC(PIN=%v) = %v", len(a.PIN) > 0, err)
		}
		tags = append(tags, tag)
		wk, err := tp.DeriveKey(ctx(), b, a, []byte("label"))
		if err != nil {
			t.Fatalf("DeriveKey(PIN=%v) = %v", len(a.PIN) > 0, err)
		}
		secrets = append(secrets, wk)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	for _, s := range secrets {
		if tap.Seen(s) {
			t.Errorf("secret %x crossed the TPM bus in the clear", s)
		}
	}
	for _, s := range append(tags, data) {
		if !tap.Seen(s) {
			t.Errorf("tap.Seen(%x) = false, want true: the probe does not see the MAC traffic", s)
		}
	}
	sw.AssertNoTransients()
}

// TestHMACFaults: a hand-encoded MAC, with and without PIN, survives RETRY
// answers (retried, with a new caller nonce) and a connection dropped
// before its answer (reconnected, the salted session started again), and
// still gives the right tag.
func TestHMACFaults(t *testing.T) {
	tt, in := openFaulty(t)
	key, pin := randomBytes(t, 32), []byte("1234")
	data := []byte("data")
	keys := []struct {
		name string
		b    *Blob
		a    Auth
	}{
		{"no-pin", knownHMACKey(t, tt.TPM, key, nil), Auth{}},
		{"pin", knownHMACKey(t, tt.TPM, key, pin), Auth{PIN: pin}},
	}
	for _, f := range []struct {
		name      string
		hook      func() faultHook // a new one per key: a hook counts down
		wantHMACs int
		wantDials int
	}{
		{"retry-twice", func() faultHook { return answerRC(tpm2.TPMCCHMAC, tpm2.TPMRCRetry, 2) }, 3, 0},
		{"dropped-response", func() faultHook { return dropResponse(tpm2.TPMCCHMAC, 1) }, 2, 1},
	} {
		for _, k := range keys {
			t.Run(f.name+"-"+k.name, func(t *testing.T) {
				if _, err := tt.HMAC(ctx(), k.b, k.a, data); err != nil { // loaded, session started
					t.Fatalf("HMAC(warm) = %v", err)
				}
				in.resetCounts()
				in.set(f.hook())
				got, err := tt.HMAC(ctx(), k.b, k.a, data)
				in.set(nil)
				if want := goHMAC(key, data); err != nil || !bytes.Equal(got, want) {
					t.Fatalf("HMAC(%s) = %x, %v, want %x", f.name, got, err, want)
				}
				dials, seen := in.counts()
				if seen[tpm2.TPMCCHMAC] != f.wantHMACs || dials != f.wantDials {
					t.Errorf("HMAC(%s) sent TPM2_HMAC %d times over %d redials, want %d over %d",
						f.name, seen[tpm2.TPMCCHMAC], dials, f.wantHMACs, f.wantDials)
				}
			})
		}
	}
}
