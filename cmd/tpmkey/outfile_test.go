package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestWriteOutputReplacesWithPrivateFile: --out gives a new 0600 file even
// over an existing 0644 one or a hard link, refuses a symlink or a
// non-regular file and leaves it as it was, and leaves no temporary file.
func TestWriteOutputReplacesWithPrivateFile(t *testing.T) {
	secret := []byte("s3cret\n")
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir, out string)
		wantErr string
	}{
		{"new-file", func(*testing.T, string, string) {}, ""},
		{"existing-0644-file", func(t *testing.T, _, out string) {
			writeTestFile(t, out, "old", 0o644)
			os.Chmod(out, 0o644) // whatever the umask
		}, ""},
		{"hard-link-keeps-the-other-name", func(t *testing.T, dir, out string) {
			writeTestFile(t, filepath.Join(dir, "other"), "old", 0o644)
			if err := os.Link(filepath.Join(dir, "other"), out); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"symlink-refused", func(t *testing.T, dir, out string) {
			writeTestFile(t, filepath.Join(dir, "other"), "old", 0o644)
			if err := os.Symlink("other", out); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"dangling-symlink-refused", func(t *testing.T, dir, out string) {
			if err := os.Symlink(filepath.Join(dir, "other"), out); err != nil {
				t.Fatal(err)
			}
		}, "symbolic link"},
		{"fifo-refused", func(t *testing.T, _, out string) {
			if err := syscall.Mkfifo(out, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			tt.setup(t, dir, out)
			c := &cli{stdio: stdio{out: &bytes.Buffer{}}}
			err := c.writeOutput(out, secret)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || errorCode(err) != codeIO {
					t.Fatalf("writeOutput = %v, want an %s error containing %q", err, codeIO, tt.wantErr)
				}
				if b, err := os.ReadFile(filepath.Join(dir, "other")); err == nil && string(b) != "old" {
					t.Errorf("the symlink's target now holds %q, want it unchanged", b)
				}
			} else {
				if err != nil {
					t.Fatalf("writeOutput = %v, want nil", err)
				}
				fi, err := os.Lstat(out)
				if err != nil {
					t.Fatal(err)
				}
				if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
					t.Errorf("output mode = %v, want a regular file of mode 0600", fi.Mode())
				}
				if b, _ := os.ReadFile(out); !bytes.Equal(b, secret) {
					t.Errorf("output = %q, want %q", b, secret)
				}
				if b, err := os.ReadFile(filepath.Join(dir, "other")); err == nil && string(b) != "old" {
					t.Errorf("the other hard link now holds %q, want it unchanged", b)
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".tmp") {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

func writeTestFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}
