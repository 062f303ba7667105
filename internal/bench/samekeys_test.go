package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// TestImportRawKeys checks that the floor's keys, made on swtpm #1, become
// records that swtpm #2 signs with when both start from one state, and that
// two independent instances are refused.
func TestImportRawKeys(t *testing.T) {
	swtpmtest.RequireSwtpm(t)
	tests := []struct {
		name    string
		twins   bool
		wantErr error
	}{
		{"twin-tpms", true, nil},
		{"independent-tpms", false, ErrSRKMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			tpms := launchPair(t, ctx, dir, tt.twins)
			tr, err := tpms[0].Open()
			if err != nil {
				t.Fatalf("Open(swtpm #1) = %v", err)
			}
			defer tr.Close()
			rw, err := openRaw(ctx, tr)
			if err != nil {
				t.Fatalf("openRaw = %v", err)
			}
			defer rw.Close()
			stateDir := filepath.Join(dir, "state")
			log := slog.New(slog.DiscardHandler)
			err = importRawKeys(ctx, tpms[1].Spec(), stateDir, rw, log)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("importRawKeys = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				signImported(t, ctx, tpms[1].Spec(), stateDir, log)
			}
		})
	}
}

func launchPair(t *testing.T, ctx context.Context, dir string, twins bool) [2]*swtpmtest.Process {
	t.Helper()
	dirs := [2]string{filepath.Join(dir, "swtpm1"), filepath.Join(dir, "swtpm2")}
	var tpms [2]*swtpmtest.Process
	var err error
	if twins {
		tpms, err = launchTwins(ctx, dirs)
	} else {
		for i := range tpms {
			if tpms[i], err = swtpmtest.Launch(ctx, swtpmtest.Config{StateDir: dirs[i]}); err != nil {
				break
			}
		}
	}
	t.Cleanup(func() {
		for _, p := range tpms {
			if p != nil {
				p.Close()
			}
		}
	})
	if err != nil {
		t.Fatalf("launch swtpm pair = %v", err)
	}
	return tpms
}

// signImported reads the imported records back as the daemon would and
// signs with each on swtpm #2; the signature must verify under the public
// key the floor's TPM reported.
func signImported(t *testing.T, ctx context.Context, spec, stateDir string, log *slog.Logger) {
	t.Helper()
	tp, err := tpm.OpenSpec(ctx, spec, tpm.Options{StateDir: stateDir, Logger: log})
	if err != nil {
		t.Fatalf("tpm.Open(swtpm #2) = %v", err)
	}
	defer tp.Close()
	macKey, err := store.LoadIntegrityKey(ctx, tp, stateDir)
	if err != nil {
		t.Fatalf("store.LoadIntegrityKey = %v", err)
	}
	st, err := store.Open(stateDir, macKey, log)
	if err != nil {
		t.Fatalf("store.Open = %v", err)
	}
	defer st.Close()
	digest := sha256.Sum256([]byte("same key"))
	for _, alias := range []string{hotAlias, rsaAlias} {
		rec, err := st.Get(uint32(os.Getuid()), alias)
		if err != nil {
			t.Fatalf("store.Get(%s) = %v", alias, err)
		}
		pub, err := tpm.PublicKey(&rec.Blob)
		if err != nil {
			t.Fatalf("tpm.PublicKey(%s) = %v", alias, err)
		}
		_, isRSA := pub.(*rsa.PublicKey)
		sig, err := tp.Sign(ctx, &rec.Blob, tpm.Auth{}, digest[:], tpm.SignOptions{Hash: crypto.SHA256, PSS: isRSA})
		if err != nil {
			t.Fatalf("Sign(%s) on swtpm #2 = %v", alias, err)
		}
		var ok bool
		switch k := pub.(type) {
		case *ecdsa.PublicKey:
			ok = ecdsa.VerifyASN1(k, digest[:], sig)
		case *rsa.PublicKey:
			ok = rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, nil) == nil
		}
		if !ok {
			t.Errorf("verify(%s signature from swtpm #2) = false, want true", alias)
		}
	}
}
