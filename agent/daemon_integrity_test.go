//go:build linux

package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestRefusesToStartWithoutIntegrityKey: with records on disk and
// integrity.key gone, the daemon does not start (a new key would make every
// record KEY_INVALIDATED), says why in one line, and writes no new key.
func TestRefusesToStartWithoutIntegrityKey(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v (%s)", st, msg)
	}
	td.stop()
	path := filepath.Join(td.opts.StateDir, "integrity.key")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	d, err := New(td.opts)
	if err != nil {
		t.Fatal(err)
	}
	err = d.Run(context.Background())
	if !errors.Is(err, store.ErrIntegrityKeyMissing) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Run = %v, want one line wrapping store.ErrIntegrityKeyMissing", err)
	}
	t.Logf("Run = %v", err)
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after the refusal: Lstat(%s) = %v, want no new key", path, err)
	}
	if _, err := os.Lstat(filepath.Join(td.opts.StateDir, "keys", strconv.Itoa(os.Getuid()), "k.key")); err != nil {
		t.Errorf("the record after the refusal: %v, want it kept", err)
	}
}
