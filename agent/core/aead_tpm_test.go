//go:build linux

package core

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// tpmCore is a core over a real swtpm and store, for tests that reach into
// the core's AEAD state (its clock, its message bound).
type tpmCore struct {
	c     *Core
	st    *store.Store
	t     *tpm.TPM
	sess  *Session
	dir   string
	clock *fakeClock
}

func newTPMCore(t *testing.T) *tpmCore {
	t.Helper()
	sw := swtpmtest.Start(t)
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	tt, err := tpm.OpenSpec(context.Background(), sw.Spec(), tpm.Options{StateDir: dir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tt.Close() })
	tc := &tpmCore{t: tt, dir: dir, clock: &fakeClock{t: time.Now()}}
	tc.open(t)
	return tc
}

// open makes a new core (a restart) over the same TPM and store directory.
func (tc *tpmCore) open(t *testing.T) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(filepath.Join(tc.dir, "store"), bytes.Repeat([]byte{7}, 32), log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.SubUIDFile = ""
	s, err := NewSettings(cfg, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(log, tc.t, st, tc.dir, "test", s)
	if err != nil {
		t.Fatal(err)
	}
	c.aead.now = tc.clock.now
	sess, err := c.Connect(Caller{UID: 1000, GID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close(); c.Close(); st.Close() })
	tc.c, tc.st, tc.sess = c, st, sess
}

func (tc *tpmCore) do(t *testing.T, op protocol.Op, req any) any {
	t.Helper()
	call := &Call{Op: op, Req: req}
	res := tc.sess.Do(t.Context(), call)
	t.Cleanup(call.Finish) // the response is valid until Finish (pooled buffers)
	if res.Status != protocol.StatusOK {
		t.Fatalf("%v(%+v) = %v (%s)", op, req, res.Status, res.Message)
	}
	return res.Resp
}

func (tc *tpmCore) encrypt(t *testing.T, alias string) (ct []byte, version uint32) {
	t.Helper()
	r := tc.do(t, protocol.OpAEADEncrypt, &protocol.AEADEncryptRequest{Alias: alias, Plaintext: []byte("p")}).(*protocol.AEADEncryptResponse)
	return r.Ciphertext, r.Version
}

// TestAEADAutoRotation: a key with a rotation period gets a new version at
// its first use after the newest version is that old; older ciphertexts
// still decrypt.
func TestAEADAutoRotation(t *testing.T) {
	tc := newTPMCore(t)
	tc.do(t, protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "a", Algorithm: protocol.AlgAES256GCM, RotationPeriod: 90 * 86400})
	ct1, v := tc.encrypt(t, "a")
	if v != 1 {
		t.Fatalf("AEADEncrypt = version %d, want 1", v)
	}
	tc.clock.add(89 * 24 * time.Hour)
	if _, v := tc.encrypt(t, "a"); v != 1 {
		t.Errorf("AEADEncrypt after 89 days = version %d, want 1", v)
	}
	tc.clock.add(2 * 24 * time.Hour)
	if _, v := tc.encrypt(t, "a"); v != 2 {
		t.Errorf("AEADEncrypt after 91 days = version %d, want 2", v)
	}
	if _, v := tc.encrypt(t, "a"); v != 2 {
		t.Errorf("AEADEncrypt again = version %d, want 2 (one rotation per period)", v)
	}
	call := &Call{Op: protocol.OpAEADDecrypt, Req: &protocol.AEADDecryptRequest{Ciphertext: ct1}}
	res := tc.sess.Do(t.Context(), call)
	if r, ok := res.Resp.(*protocol.AEADDecryptResponse); !ok || r.Version != 1 || string(r.Plaintext) != "p" {
		t.Errorf("AEADDecrypt(version 1 ciphertext) = %+v (%v), want p v1", res.Resp, res.Status)
	}
	call.Finish()
	k := tc.do(t, protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "a"}).(*protocol.GetKeyResponse).Key
	if len(k.Versions) != 2 || k.RotationPeriod != 90*86400 {
		t.Errorf("GetKey = %d versions, rotation_period %d; want 2, %d", len(k.Versions), k.RotationPeriod, 90*86400)
	}
}

// TestAEADMessageBound: messages are counted per version and reserved in
// the record in blocks; at the bound the key rotates; a restart never
// reuses a reserved count.
func TestAEADMessageBound(t *testing.T) {
	tc := newTPMCore(t)
	tc.c.aead.bound, tc.c.aead.block = 8, 4
	tc.do(t, protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "a", Algorithm: protocol.AlgAES256GCM})
	var versions []uint32
	for range 9 {
		_, v := tc.encrypt(t, "a")
		versions = append(versions, v)
	}
	want := []uint32{1, 1, 1, 1, 1, 1, 1, 1, 2}
	if !bytes.Equal(u32Bytes(versions), u32Bytes(want)) {
		t.Errorf("versions of 9 messages with a bound of 8 = %v, want %v", versions, want)
	}
	rec, err := tc.st.Get(1000, "a")
	if err != nil {
		t.Fatal(err)
	}
	if rec.Versions[0].Messages != 8 || rec.Versions[1].Messages != 4 {
		t.Errorf("reserved messages = %d, %d; want 8, 4", rec.Versions[0].Messages, rec.Versions[1].Messages)
	}
	tc.open(t) // a restart: version 2's reserved block counts as used
	tc.c.aead.bound, tc.c.aead.block = 8, 4
	for range 4 {
		tc.encrypt(t, "a")
	}
	if _, v := tc.encrypt(t, "a"); v != 3 {
		t.Errorf("version after a restart and 5 more messages = %d, want 3 (4 reserved before the restart, 4 after)", v)
	}
}

func u32Bytes(vs []uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
	return b
}

// TestMACAutoRotation: an hmac-sha256 key with a rotation period rotates
// at its first MAC after the period, as aes-256-gcm keys do.
func TestMACAutoRotation(t *testing.T) {
	tc := newTPMCore(t)
	tc.do(t, protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "m", Algorithm: protocol.AlgHMACSHA256, RotationPeriod: 3600})
	mac := func() uint32 {
		return tc.do(t, protocol.OpMAC, &protocol.MACRequest{Alias: "m", Data: []byte("d")}).(*protocol.MACResponse).Version
	}
	if v := mac(); v != 1 {
		t.Errorf("MAC = version %d, want 1", v)
	}
	tc.clock.add(time.Hour)
	if v := mac(); v != 2 {
		t.Errorf("MAC an hour later = version %d, want 2", v)
	}
}
