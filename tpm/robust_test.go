package tpm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

type signKey struct {
	blob *Blob
	pub  *ecdsa.PublicKey
	auth Auth
}

func makeSignKeys(t *testing.T, tp *TPM, n int) []signKey {
	t.Helper()
	keys := make([]signKey, n)
	for i := range keys {
		spec := KeySpec{Algorithm: ECCP256, Purposes: PurposeSign}
		if i%4 == 3 {
			spec.PIN = []byte(fmt.Sprintf("pin-%d", i))
		}
		b, pub, err := tp.CreateKey(context.Background(), spec)
		if err != nil {
			t.Fatalf("CreateKey #%d = %v", i, err)
		}
		keys[i] = signKey{b, pub.(*ecdsa.PublicKey), Auth{PIN: spec.PIN}}
	}
	return keys
}

func (k signKey) signAndVerify(tp *TPM, msg string) error {
	return k.signAndVerifyCtx(context.Background(), tp, msg)
}

func (k signKey) signAndVerifyCtx(c context.Context, tp *TPM, msg string) error {
	d := digestOf(crypto.SHA256, msg)
	sig, err := tp.Sign(c, k.blob, k.auth, d, SignOptions{Hash: crypto.SHA256})
	if err != nil {
		return err
	}
	if !ecdsa.VerifyASN1(k.pub, d, sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// TestRoundRobin uses 20 keys in turn on swtpm, which has 3 slots.
func TestRoundRobin(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 20)
	for round := 0; round < 3; round++ {
		for i, k := range keys {
			if err := k.signAndVerify(tt.TPM, "rr"); err != nil {
				t.Fatalf("round %d key %d: %v", round, i, err)
			}
		}
	}
	if n := tt.cache.len(); n > tt.Info().Slots {
		t.Errorf("cache holds %d keys, want at most %d", n, tt.Info().Slots)
	}
}

// TestObjectMemoryEvictRetry makes the cache believe it has more slots than
// the TPM: loads then hit TPM_RC_OBJECT_MEMORY and must evict and retry.
func TestObjectMemoryEvictRetry(t *testing.T) {
	tt := openTest(t)
	tt.inTurn(t, func() { tt.cache = newKeyCache(10) })
	keys := makeSignKeys(t, tt.TPM, 6)
	for round := 0; round < 2; round++ {
		for i, k := range keys {
			if err := k.signAndVerify(tt.TPM, "om"); err != nil {
				t.Fatalf("round %d key %d: %v", round, i, err)
			}
		}
	}
}

func TestConcurrentSign(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 5)
	var wg sync.WaitGroup
	errs := make(chan error, 8*10)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if err := keys[(g+i)%len(keys)].signAndVerify(tt.TPM, "c"); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Sign: %v", err)
	}
}

// TestRestartMidLoop restarts swtpm between calls: the next call
// reconnects, re-checks the SRK, reloads its key and succeeds.
func TestRestartMidLoop(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 4)
	sealed, err := tt.Seal(ctx(), []byte("kept"), KeySpec{Algorithm: Sealed, PIN: []byte("p")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if i == 4 || i == 9 {
			tt.sw.MustRestart()
		}
		if err := keys[i%len(keys)].signAndVerify(tt.TPM, "restart"); err != nil {
			t.Fatalf("iteration %d: %v", i, err)
		}
		if got, err := tt.Unseal(ctx(), sealed, Auth{PIN: []byte("p")}); err != nil || string(got) != "kept" {
			t.Fatalf("iteration %d: Unseal() = %q, %v", i, got, err)
		}
	}
}

func TestRestartWhileDown(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 1)
	if err := tt.sw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := keys[0].signAndVerify(tt.TPM, "down"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("swtpm down: Sign() = %v, want ErrUnavailable", err)
	}
	if err := tt.Ping(ctx()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("swtpm down: Ping() = %v, want ErrUnavailable", err)
	}
	if err := tt.sw.Restart(ctx()); err != nil {
		t.Fatal(err)
	}
	if err := keys[0].signAndVerify(tt.TPM, "up"); err != nil {
		t.Errorf("swtpm back: Sign() = %v, want nil", err)
	}
}

func TestWipeGivesTPMChanged(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 1)
	pinned, err := os.ReadFile(filepath.Join(tt.stateDir, srkNameFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("while-open", func(t *testing.T) {
		tt.sw.MustWipe()
		for i := 0; i < 2; i++ {
			if err := keys[0].signAndVerify(tt.TPM, "x"); !errors.Is(err, ErrTPMChanged) {
				t.Errorf("after wipe, Sign() #%d = %v, want ErrTPMChanged", i, err)
			}
		}
		if err := tt.Ping(ctx()); !errors.Is(err, ErrTPMChanged) {
			t.Errorf("after wipe, Ping() = %v, want ErrTPMChanged", err)
		}
	})
	t.Run("at-open", func(t *testing.T) {
		tt.TPM.Close()
		tt.sw.MustWipe()
		_, err := OpenSpec(ctx(), tt.sw.Spec(), tt.opts(t))
		if !errors.Is(err, ErrTPMChanged) {
			t.Errorf("Open() after wipe = %v, want ErrTPMChanged", err)
		}
		if out := tt.sw.Tool("tpm2_getcap", "handles-persistent"); len(out) != 0 {
			t.Errorf("after a refused Open, persistent handles = %q, want none created", out)
		}
	})
	if got, _ := os.ReadFile(filepath.Join(tt.stateDir, srkNameFile)); string(got) != string(pinned) {
		t.Errorf("srk.name = %q, want unchanged %q", got, pinned)
	}
}

func TestReopenKeepsSRK(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 1)
	name := tt.SRKName()
	tt.reopen(t)
	if got := tt.SRKName(); string(got) != string(name) {
		t.Errorf("SRKName() after reopen = %x, want %x", got, name)
	}
	if !tt.srk.persistent {
		t.Errorf("SRK not persistent after reopen")
	}
	if err := keys[0].signAndVerify(tt.TPM, "x"); err != nil {
		t.Errorf("Sign() after reopen = %v", err)
	}
}

// TestStaleHandlesFlushed leaves objects and a session loaded, as a crashed
// process would; Open must flush them.
func TestStaleHandlesFlushed(t *testing.T) {
	tt := openTest(t)
	tt.TPM.Close()
	tr, err := tt.sw.Open()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := (tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}).Execute(tr); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tpm2.HMACSession(tr, tpm2.TPMAlgSHA256, 16); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	tt.TPM = tt.mustOpen(t)
	keys := makeSignKeys(t, tt.TPM, 3)
	for _, k := range keys {
		if err := k.signAndVerify(tt.TPM, "x"); err != nil {
			t.Errorf("Sign() after stale handles = %v", err)
		}
	}
}

// TestTransientSRK: 0x81000001 holds someone else's key, so the SRK is
// re-created transiently at each open (and flushed at Close).
func TestTransientSRK(t *testing.T) {
	tt := openTest(t)
	tt.TPM.Close()
	dir := t.TempDir()
	ctxFile := filepath.Join(dir, "rsa.ctx")
	tt.sw.Tool("tpm2_evictcontrol", "-C", "o", "-c", "0x81000001")
	tt.sw.Tool("tpm2_createprimary", "-C", "o", "-G", "rsa", "-c", ctxFile)
	tt.sw.Tool("tpm2_evictcontrol", "-C", "o", "-c", ctxFile, "0x81000001")
	tt.TPM = tt.mustOpen(t)
	if tt.srk.persistent {
		t.Fatalf("SRK persistent although 0x81000001 holds an RSA key")
	}
	keys := makeSignKeys(t, tt.TPM, 5)
	for _, k := range keys {
		if err := k.signAndVerify(tt.TPM, "x"); err != nil {
			t.Errorf("Sign() with transient SRK = %v", err)
		}
	}
}

func TestOwnerPassword(t *testing.T) {
	tt := openTest(t)
	tt.TPM.Close()
	tt.sw.Tool("tpm2_evictcontrol", "-C", "o", "-c", "0x81000001")
	tt.sw.Tool("tpm2_changeauth", "-c", "owner", "ownerpw")
	// A fresh state dir: a new daemon on a TPM whose owner has a password.
	tt.stateDir = t.TempDir()
	if _, err := OpenSpec(ctx(), tt.sw.Spec(), tt.opts(t)); !errors.Is(err, ErrAuthFail) {
		t.Errorf("Open() without the owner password = %v, want ErrAuthFail", err)
	}
	pwFile := filepath.Join(t.TempDir(), "owner")
	if err := os.WriteFile(pwFile, []byte("ownerpw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := tt.opts(t)
	opts.OwnerPasswordFile = pwFile
	tp, err := OpenSpec(ctx(), tt.sw.Spec(), opts)
	if err != nil {
		t.Fatalf("Open() with the owner password = %v", err)
	}
	tt.TPM = tp
	if !tp.srk.persistent {
		t.Errorf("SRK not persisted with the owner password")
	}
	if err := makeSignKeys(t, tp, 1)[0].signAndVerify(tp, "x"); err != nil {
		t.Errorf("Sign() = %v", err)
	}
}

func TestOpenSpecs(t *testing.T) {
	tests := []struct {
		spec string
		want error
	}{
		{"sim:", ErrUnsupported}, // without -tags simulator; see sim_test.go
		{"bogus", ErrInvalid},
		{"swtpm:tcp://", ErrInvalid},
		{"swtpm:tcp://127.0.0.1:x", ErrInvalid},
		{"swtpm:unix://relative", ErrInvalid},
		{"swtpm:tcp://127.0.0.1:1", ErrUnavailable},
		{"swtpm:unix:///nonexistent/sock", ErrUnavailable},
		{"/dev/nonexistent-tpm0", ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			if tc.spec == "sim:" && simulatorBuilt {
				t.Skip("built with the simulator")
			}
			_, err := OpenSpec(ctx(), tc.spec, Options{StateDir: t.TempDir()})
			if !errors.Is(err, tc.want) {
				t.Errorf("Open(%q) = %v, want %v", tc.spec, err, tc.want)
			}
		})
	}
	if _, err := OpenSpec(ctx(), "sim:", Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(no StateDir) = %v, want ErrInvalid", err)
	}
}
