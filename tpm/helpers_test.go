package tpm

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// testTPM is a swtpm and a TPM opened on it; cleanup closes the TPM and
// checks that no transient handle or session is left behind.
type testTPM struct {
	*TPM
	sw       *swtpmtest.Instance
	stateDir string
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func openTest(t testing.TB) *testTPM {
	t.Helper()
	sw := swtpmtest.Start(t)
	tt := &testTPM{sw: sw, stateDir: t.TempDir()}
	tt.TPM = tt.mustOpen(t)
	t.Cleanup(func() {
		if err := tt.TPM.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
		sw.AssertNoTransients()
	})
	return tt
}

func (tt *testTPM) opts(t testing.TB) Options {
	return Options{StateDir: tt.stateDir, Logger: testLogger(t)}
}

func (tt *testTPM) mustOpen(t testing.TB) *TPM {
	t.Helper()
	tp, err := OpenSpec(context.Background(), tt.sw.Spec(), tt.opts(t))
	if err != nil {
		t.Fatalf("Open(%q) = %v", tt.sw.Spec(), err)
	}
	return tp
}

// reopen closes the TPM (so tools can connect) and opens it again.
func (tt *testTPM) reopen(t testing.TB) {
	t.Helper()
	if err := tt.TPM.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	tt.TPM = tt.mustOpen(t)
}

// inTurn runs f holding the TPM's turn, as the package's own jobs do, so
// that a test may touch what the turn guards.
func (tt *testTPM) inTurn(t testing.TB, f func()) {
	t.Helper()
	if err := tt.withTurn(context.Background(), "test", false, func() error { f(); return nil }); err != nil {
		t.Fatalf("withTurn() = %v", err)
	}
}
