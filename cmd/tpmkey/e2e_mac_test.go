package main

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMACCommands runs the real CLI against the real daemon: keygen of an
// hmac-sha256 key, mac, verify-mac (exit 0, and exit 1 for a wrong tag),
// and the Go client's MAC agreeing with the CLI's.
func TestMACCommands(t *testing.T) {
	s, _, b := startStack(t)
	msg := filepath.Join(s.Dir, "msg.txt")
	if err := os.WriteFile(msg, []byte("hello mac"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, b, s, nil, nil, "keygen", "m", "--alg", "hmac-sha256", "--json"); r.code != 0 ||
		!strings.Contains(r.stdout, `"mac"`) {
		t.Fatalf("keygen --alg hmac-sha256 = %d %q %q", r.code, r.stdout, r.stderr)
	}
	r := runCLI(t, b, s, nil, nil, "mac", "m", "--in", msg)
	tagHex := strings.TrimSpace(r.stdout)
	if r.code != 0 || len(tagHex) != 64 {
		t.Fatalf("mac = %d %q %q, want a 64-digit hex tag", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, b, s, nil, nil, "verify-mac", "m", "--in", msg, "--tag", tagHex); r.code != 0 || !strings.Contains(r.stdout, "Verified OK") {
		t.Errorf("verify-mac with the tag = %d %q %q, want Verified OK", r.code, r.stdout, r.stderr)
	}
	wrong := "00" + tagHex[2:]
	if wrong == tagHex {
		wrong = "11" + tagHex[2:]
	}
	if r := runCLI(t, b, s, nil, nil, "verify-mac", "m", "--in", msg, "--tag", wrong); r.code != 1 || !strings.Contains(r.stderr, "INVALID_SIGNATURE") {
		t.Errorf("verify-mac with a wrong tag = %d %q, want exit 1 INVALID_SIGNATURE", r.code, r.stderr)
	}
	tag, version, err := dial(t, s).MAC(context.Background(), "m", []byte("hello mac"))
	if err != nil || hex.EncodeToString(tag) != tagHex || version != 1 {
		t.Errorf("client.MAC = %x, %d, %v; want the CLI's tag %s from version 1", tag, version, err, tagHex)
	}
	if ok, err := dial(t, s).VerifyMAC(context.Background(), "m", []byte("hello mac"), tag, 0); !ok || err != nil {
		t.Errorf("client.VerifyMAC = %v, %v, want true", ok, err)
	}
	if r := runCLI(t, b, s, nil, nil, "rotate", "m", "--json"); r.code != 0 || !strings.Contains(r.stdout, `"number": 2`) {
		t.Errorf("rotate = %d %q %q, want version 2 listed", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, b, s, nil, nil, "mac", "m", "--in", msg, "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"version": 2`) {
		t.Errorf("mac after rotate = %d %q, want version 2", r.code, r.stdout)
	}
	if r := runCLI(t, b, s, nil, nil, "verify-mac", "m", "--in", msg, "--tag", tagHex, "--version", "1"); r.code != 0 {
		t.Errorf("verify-mac of the version-1 tag after rotate = %d %q, want Verified OK", r.code, r.stderr)
	}
}
