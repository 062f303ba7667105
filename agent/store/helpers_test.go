package store

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/internal/syncbuf"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// testMACKey is the integrity key of stores made by tests and the fuzz target.
func testMACKey() []byte { return bytes.Repeat([]byte{0x5a}, IntegrityKeySize) }

// logBuffer is a slog destination tests can read back.
type logBuffer = syncbuf.Buffer

// newTestStore opens a store in a fresh directory, logging into the
// returned buffer.
func newTestStore(t testing.TB) (*Store, string, *logBuffer) {
	t.Helper()
	dir := t.TempDir()
	s, logs := openTestStore(t, dir)
	return s, dir, logs
}

func openTestStore(t testing.TB, dir string) (*Store, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := Open(dir, testMACKey(), log)
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

// testRecord is a plausible ECDSA P-256 record: blob sizes as go-tpm makes them.
func testRecord(uid uint32, alias string) *Record {
	r := &Record{
		Alias:     alias,
		OwnerUID:  uid,
		Algorithm: "ec-p256",
		Purposes:  []string{"sign"},
		PCRs:      []uint{0, 7},
		Created:   time.Unix(1700000000, 0).UTC(),
		PublicDER: bytes.Repeat([]byte{0x30}, 91),
		Blob: tpm.Blob{
			Public:     bytes.Repeat([]byte{0x01}, 90),
			Private:    bytes.Repeat([]byte{0x02}, 126),
			ParentName: bytes.Repeat([]byte{0x03}, 34),
		},
	}
	copy(r.KeyID[:], alias)
	return r
}

// writeRecordsFast writes n records aliased k000000... for uid without
// fsync: setup for tests and benchmarks that need thousands of records.
func writeRecordsFast(t testing.TB, dir string, uid uint32, n int) []string {
	t.Helper()
	c, err := newRecordCodec()
	if err != nil {
		t.Fatal(err)
	}
	key, _ := newSecretKey(testMACKey())
	udir := filepath.Join(dir, "keys", strconv.FormatUint(uint64(uid), 10))
	if err := os.MkdirAll(udir, privateDirMode); err != nil {
		t.Fatal(err)
	}
	aliases := make([]string, n)
	for i := range n {
		aliases[i] = "k" + strconv.FormatInt(int64(1000000+i), 10)[1:]
		data, err := c.encode(key, testRecord(uid, aliases[i]))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(udir, aliases[i]+recordSuffix), data, privateFileMode); err != nil {
			t.Fatal(err)
		}
	}
	return aliases
}

// equalRecords compares records field by field, treating nil and empty
// slices alike.
func equalRecords(a, b *Record) bool {
	return a.Alias == b.Alias && a.KeyID == b.KeyID && a.OwnerUID == b.OwnerUID &&
		a.Algorithm == b.Algorithm && a.HasPIN == b.HasPIN && a.Created.Equal(b.Created) &&
		slices.Equal(a.Purposes, b.Purposes) && slices.Equal(a.PCRs, b.PCRs) &&
		bytes.Equal(a.PublicDER, b.PublicDER) &&
		equalBlobs(a.Blob, b.Blob) && a.MinDecryptionVersion == b.MinDecryptionVersion &&
		a.RotationPeriod == b.RotationPeriod && a.Origin == b.Origin && bytes.Equal(a.ExportTo, b.ExportTo) &&
		slices.EqualFunc(a.Versions, b.Versions, func(x, y KeyVersion) bool {
			return x.Number == y.Number && x.Created.Equal(y.Created) && x.Disabled == y.Disabled && equalBlobs(x.Blob, y.Blob)
		})
}

func equalBlobs(a, b tpm.Blob) bool {
	return bytes.Equal(a.Public, b.Public) && bytes.Equal(a.Private, b.Private) && bytes.Equal(a.ParentName, b.ParentName)
}
