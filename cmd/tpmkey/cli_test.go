package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runOffline runs the CLI in-process against a socket where nothing listens.
func runOffline(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := map[string]string{"TPMKEY_SOCKET": "/nonexistent/tpmkeyd.sock"}
	err := run(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb},
		func(k string) string { return env[k] })
	code = exitCode(err, &errb)
	return code, out.String(), errb.String()
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // prefix of the error line
	}{
		{"no-command", nil, 2, "tpmkey: usage: no command given"},
		{"unknown-command", []string{"frobnicate"}, 2, "tpmkey: usage: unknown command"},
		{"unknown-flag", []string{"list", "--frob"}, 2, "tpmkey: usage: unknown flag: --frob"},
		{"missing-alias", []string{"sign"}, 2, "tpmkey: usage: sign takes 1 argument(s), got 0"},
		{"missing-alg", []string{"keygen", "k"}, 2, `tpmkey: usage: required flag(s) "alg" not set`},
		{"bad-hash", []string{"sign", "k", "--hash", "md5"}, 2, `tpmkey: usage: --hash "md5"`},
		{"bad-pcrs", []string{"keygen", "k", "--alg", "ec-p256", "--pcrs", "0,99"}, 2, "tpmkey: usage: --pcrs"},
		{"bad-random-count", []string{"random", "-5"}, 2, "tpmkey: usage: "},
		{"help", []string{"--help"}, 0, ""},
		{"no-daemon", []string{"list"}, 1, "tpmkey: CONNECTION_FAILED: "},
		{"missing-input-file", []string{"decrypt", "k", "--in", "/nonexistent"}, 1, "tpmkey: IO_ERROR: "},
		{"missing-pin-file", []string{"unseal", "k", "--pin-file", "/nonexistent"}, 1, "tpmkey: IO_ERROR: "},
		{"decrypt-two-args", []string{"decrypt", "a", "b"}, 2, "tpmkey: usage: decrypt takes at most 1 argument"},
		{"bad-context", []string{"encrypt", "k", "--context", "novalue"}, 2, `tpmkey: usage: --context "novalue"`},
		{"duplicate-context", []string{"decrypt", "--context", "a=1", "--context", "a=2"}, 2, `tpmkey: usage: --context: key "a" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runOffline(tt.args...)
			if code != tt.code || !strings.HasPrefix(stderr, tt.stderr) {
				t.Errorf("tpmkey %v = %d %q, want %d %q...", tt.args, code, stderr, tt.code, tt.stderr)
			}
			if tt.code == 1 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("tpmkey %v printed %q, want exactly one line", tt.args, stderr)
			}
		})
	}
}

func TestIsDevSocket(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/home/u/src/tpmkeyd/.tpmkeyd-dev/tpmkeyd.sock", true},
		{"/run/tpmkeyd/tpmkeyd.sock", false},
		{"/tmp/.tpmkeyd-dev-not/tpmkeyd.sock", false},
		{"/tmp/x/.tpmkeyd-dev.sock", false},
	}
	for _, tt := range tests {
		if got := isDevSocket(tt.path); got != tt.want {
			t.Errorf("isDevSocket(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestParsePCRs(t *testing.T) {
	tests := []struct {
		in      string
		want    []uint
		wantErr bool
	}{
		{"", nil, false},
		{"0,7", []uint{0, 7}, false},
		{" 16 ", []uint{16}, false},
		{"24", nil, true},
		{"a", nil, true},
		{"1,,2", nil, true},
	}
	for _, tt := range tests {
		got, err := parsePCRs(tt.in)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Errorf("parsePCRs(%q) = %v, %v, want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadPINTrimsOneNewline(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"newline", "1234\n", "1234"},
		{"crlf", "1234\r\n", "1234"},
		{"none", "12 34", "12 34"},
		{"two-newlines", "1234\n\n", "1234\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name)
			os.WriteFile(p, []byte(tt.content), 0o600)
			got, err := readPIN(p)
			if err != nil || string(got) != tt.want {
				t.Errorf("readPIN(%q) = %q, %v, want %q", tt.content, got, err, tt.want)
			}
		})
	}
}
