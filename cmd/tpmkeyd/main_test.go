package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
)

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown-flag", []string{"--frobnicate"}},
		{"stray-argument", []string{"serve"}},
		{"bad-socket-mode", []string{"--socket-mode", "rw-rw-rw-"}},
		{"bad-log-level", []string{"--log-level", "loud"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != 2 {
				t.Errorf("run(%q) exit code = %d, want 2 (err %v)", tc.args, code, err)
			}
		})
	}
}

func TestOptionsFromFlags(t *testing.T) {
	t.Setenv("STATE_DIRECTORY", "/var/lib/from-systemd")
	t.Setenv("CREDENTIALS_DIRECTORY", t.TempDir())
	os.WriteFile(os.Getenv("CREDENTIALS_DIRECTORY")+"/owner-password", []byte("pw"), 0o600)
	var stderr bytes.Buffer
	f, err := parseFlags([]string{"--socket-mode", "0660", "--socket-group", "tpmusers"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := options(f, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if opts.StateDir != "/var/lib/from-systemd" || opts.SocketMode != 0o660 || opts.SocketGroup != "tpmusers" ||
		opts.TPMSpec != "" || opts.SocketPath != "/run/tpmkeyd/tpmkeyd.sock" || opts.OwnerPasswordFile == "" {
		t.Errorf("options = %+v, want state dir from $STATE_DIRECTORY, mode 0660, group tpmusers, TPM from config, owner password file", opts)
	}
	f, _ = parseFlags([]string{"--tpm", "swtpm:tcp://127.0.0.1:1"}, &stderr)
	if opts, _ := options(f, &stderr); opts.TPMSpec != "swtpm:tcp://127.0.0.1:1" {
		t.Errorf("options(--tpm).TPMSpec = %q, want the flag's", opts.TPMSpec)
	}
	if exitCode(errors.New("boom"), &stderr) != 1 || exitCode(nil, &stderr) != 0 {
		t.Errorf("exitCode: want 1 for an error, 0 for nil")
	}
}
