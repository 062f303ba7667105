package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// openTPM opens sw for one step; the caller closes it before the next, as
// swtpm serves one client at a time.
func openTPM(t *testing.T, sw *swtpmtest.Instance, stateDir string) *tpm.TPM {
	t.Helper()
	tp, err := tpm.OpenSpec(context.Background(), sw.Spec(), tpm.Options{StateDir: stateDir})
	if err != nil {
		t.Fatalf("tpm.Open(%s) = %v", sw.Spec(), err)
	}
	return tp
}

// TestLoadIntegrityKey runs the integrity key's life against one swtpm:
// first start, restart, damage, and a replaced TPM.
func TestLoadIntegrityKey(t *testing.T) {
	sw := swtpmtest.Start(t)
	ctx := context.Background()
	tpmState, dir := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, integrityFileName)
	var first []byte
	steps := []struct {
		name  string
		state string // the tpm package's state dir for this step
		setup func(t *testing.T)
		check func(t *testing.T, key []byte, err error)
	}{
		{"first-start-seals-a-new-key", tpmState, nil, func(t *testing.T, key []byte, err error) {
			if err != nil || len(key) != IntegrityKeySize {
				t.Fatalf("LoadIntegrityKey = %d bytes, %v, want %d bytes", len(key), err, IntegrityKeySize)
			}
			first = bytes.Clone(key)
			st, err := os.Stat(path)
			if err != nil || st.Mode() != 0o600 {
				t.Fatalf("Stat(%s) = %v, %v, want mode 0600", path, st, err)
			}
			if b, _ := os.ReadFile(path); bytes.Contains(b, key) {
				t.Errorf("%s holds the key in clear", path)
			}
		}},
		{"restart-unseals-the-same-key", tpmState, nil, func(t *testing.T, key []byte, err error) {
			if err != nil || !bytes.Equal(key, first) {
				t.Errorf("LoadIntegrityKey after restart = %v, want the first key", err)
			}
		}},
		{"damaged-file-is-an-error", tpmState, func(t *testing.T) {
			good, _ := os.ReadFile(path)
			writeOver(t, path, good[:len(good)-3])
			t.Cleanup(func() { writeOver(t, path, good) })
		}, func(t *testing.T, key []byte, err error) {
			if err == nil {
				t.Errorf("LoadIntegrityKey of a damaged file = %d bytes, nil error, want an error", len(key))
			}
		}},
		{"replaced-tpm-is-tpm-changed", t.TempDir(), func(t *testing.T) { sw.MustWipe() },
			func(t *testing.T, key []byte, err error) {
				if !errors.Is(err, tpm.ErrTPMChanged) {
					t.Errorf("LoadIntegrityKey on a new TPM = %d bytes, %v, want tpm.ErrTPMChanged", len(key), err)
				}
			}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.setup != nil {
				st.setup(t)
			}
			tp := openTPM(t, sw, st.state)
			key, err := LoadIntegrityKey(ctx, tp, dir)
			if cerr := tp.Close(); cerr != nil {
				t.Errorf("Close = %v", cerr)
			}
			st.check(t, key, err)
			sw.AssertNoTransients()
		})
	}
}

// TestIntegrityKeyOpensStore: the unsealed key MACs records across a
// restart of TPM and store.
func TestIntegrityKeyOpensStore(t *testing.T) {
	sw := swtpmtest.Start(t)
	tpmState, dir := t.TempDir(), t.TempDir()
	for i, name := range []string{"create", "get-after-restart"} {
		t.Run(name, func(t *testing.T) {
			tp := openTPM(t, sw, tpmState)
			key, err := LoadIntegrityKey(context.Background(), tp, dir)
			tp.Close()
			if err != nil {
				t.Fatalf("LoadIntegrityKey = %v", err)
			}
			s, err := Open(dir, key, nil)
			clear(key)
			if err != nil {
				t.Fatalf("Open = %v", err)
			}
			defer s.Close()
			if i == 0 {
				err = s.Create(testRecord(1000, "k"), 0)
			} else {
				_, err = s.Get(1000, "k")
			}
			if err != nil {
				t.Errorf("%s = %v, want nil", name, err)
			}
		})
	}
}
