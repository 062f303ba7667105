package swtpmtest

import (
	"bytes"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

func TestStartRestartWipe(t *testing.T) {
	sw := Start(t)
	sw.AssertNoTransients()

	// A persistent object survives a restart and disappears on a wipe.
	tr, err := sw.Open()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = tpm2.EvictControl{
		Auth:             tpm2.TPMRHOwner,
		ObjectHandle:     &tpm2.NamedHandle{Handle: cp.ObjectHandle, Name: cp.Name},
		PersistentHandle: 0x81000001,
	}.Execute(tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (tpm2.FlushContext{FlushHandle: cp.ObjectHandle}).Execute(tr); err != nil {
		t.Fatal(err)
	}
	tr.Close()

	sw.MustRestart()
	if out := sw.Tool("tpm2_getcap", "handles-persistent"); !bytes.Contains(out, []byte("0x81000001")) {
		t.Errorf("after restart, handles-persistent = %q, want 0x81000001", out)
	}
	sw.MustWipe()
	if out := sw.Tool("tpm2_getcap", "handles-persistent"); bytes.Contains(out, []byte("0x81000001")) {
		t.Errorf("after wipe, handles-persistent = %q, want empty", out)
	}
	sw.AssertNoTransients()
}
