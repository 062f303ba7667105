//go:build simulator

package tpm

import (
	"bytes"
	"testing"
)

const simulatorBuilt = true

// TestSimulator: sim: keeps its seed in StateDir, so the SRK and the keys
// made under it survive closing and reopening.
func TestSimulator(t *testing.T) {
	dir := t.TempDir()
	tp, err := OpenSpec(ctx(), "sim:", Options{StateDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(sim:) = %v", err)
	}
	keys := makeSignKeys(t, tp, 5)
	for _, k := range keys {
		if err := k.signAndVerify(tp, "sim"); err != nil {
			t.Errorf("Sign() = %v", err)
		}
	}
	name := tp.SRKName()
	tp.Close()
	tp, err = OpenSpec(ctx(), "sim:", Options{StateDir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("reopen sim: = %v", err)
	}
	defer tp.Close()
	if got := tp.SRKName(); !bytes.Equal(got, name) {
		t.Errorf("SRKName() after reopen = %x, want %x", got, name)
	}
	if err := keys[0].signAndVerify(tp, "again"); err != nil {
		t.Errorf("Sign() after reopen = %v", err)
	}
}
