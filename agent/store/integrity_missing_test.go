package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// fakeSealer seals without a TPM and counts what it sealed.
type fakeSealer struct{ sealed int }

func (f *fakeSealer) Seal(context.Context, []byte, tpm.KeySpec) (*tpm.Blob, error) {
	f.sealed++
	return &tpm.Blob{Public: []byte{1}, Private: []byte{2}, ParentName: f.SRKName()}, nil
}

func (f *fakeSealer) Unseal(context.Context, *tpm.Blob, tpm.Auth) ([]byte, error) {
	return nil, errors.New("fakeSealer: Unseal not expected")
}

func (f *fakeSealer) SRKName() []byte { return []byte{3} }

// TestIntegrityKeyMissing: a missing integrity.key is made afresh only when
// no record exists; with records, LoadIntegrityKey refuses in one line and
// seals nothing.
func TestIntegrityKeyMissing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  error
	}{
		{"first-start", func(*testing.T, string) {}, nil},
		{"empty-keys-dir", func(t *testing.T, dir string) { mkdir(t, dir, "keys") }, nil},
		{"empty-uid-dir", func(t *testing.T, dir string) { mkdir(t, dir, "keys", "1000") }, nil},
		{"only-a-temp-file", func(t *testing.T, dir string) {
			writeOver(t, filepath.Join(mkdir(t, dir, "keys", "1000"), tempPrefix+"x"), []byte("x"))
		}, nil},
		{"record-under-a-symlinked-uid-dir", func(t *testing.T, dir string) {
			elsewhere := t.TempDir()
			writeOver(t, filepath.Join(elsewhere, "k.key"), []byte("x"))
			symlink(t, elsewhere, filepath.Join(mkdir(t, dir, "keys"), "1000"))
		}, nil},
		{"one-record", func(t *testing.T, dir string) {
			writeRecordsFast(t, dir, 1000, 1)
		}, ErrIntegrityKeyMissing},
		{"records-of-several-uids", func(t *testing.T, dir string) {
			mkdir(t, dir, "keys", "0")
			writeRecordsFast(t, dir, 1000, 3)
		}, ErrIntegrityKeyMissing},
		{"an-invalid-record-counts", func(t *testing.T, dir string) {
			writeOver(t, filepath.Join(mkdir(t, dir, "keys", "1000"), "k.key"), []byte("garbage"))
		}, ErrIntegrityKeyMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			sealer := &fakeSealer{}
			key, err := LoadIntegrityKey(context.Background(), sealer, dir)
			_, statErr := os.Lstat(filepath.Join(dir, integrityFileName))
			if tt.want == nil {
				if err != nil || len(key) != IntegrityKeySize || sealer.sealed != 1 || statErr != nil {
					t.Errorf("LoadIntegrityKey = %d bytes, %v (sealed %d, file: %v), want a new key sealed once",
						len(key), err, sealer.sealed, statErr)
				}
				return
			}
			if !errors.Is(err, tt.want) || key != nil {
				t.Fatalf("LoadIntegrityKey = %d bytes, %v, want %v", len(key), err, tt.want)
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, filepath.Join(dir, integrityFileName)) {
				t.Errorf("LoadIntegrityKey error = %q, want one line naming the missing file", msg)
			}
			if sealer.sealed != 0 || !errors.Is(statErr, os.ErrNotExist) {
				t.Errorf("after the refusal: sealed %d, Lstat(integrity.key) = %v, want nothing sealed or written", sealer.sealed, statErr)
			}
		})
	}
}

// mkdir makes dir/elem... with mode 0700 and returns its path.
func mkdir(t *testing.T, dir string, elem ...string) string {
	t.Helper()
	path := filepath.Join(append([]string{dir}, elem...)...)
	if err := os.MkdirAll(path, 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}
