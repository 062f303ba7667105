package crosscheck

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// python returns Debian's python3 with python3-cryptography (the one in
// /usr/bin first: another python3 earlier in PATH may carry another
// cryptography), or skips (fails under CI=true).
func python(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(p); err == nil {
			if exec.Command(path, "-c", "from cryptography.hazmat.primitives.ciphers.aead import AESGCM").Run() == nil {
				return path
			}
		}
	}
	swtpmtest.Missing(t, errors.New("python3 with python3-cryptography (apt-get install python3-cryptography)"))
	return ""
}

// script is the path of stream_decrypt.py beside this file.
func script(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "stream_decrypt.py")
}

// pyDecrypt runs stream_decrypt.py on ct and returns its output and
// stderr, and whether it exited 0.
func pyDecrypt(t *testing.T, ct, dataKey []byte, encCtx map[string]string) (out []byte, stderr string, ok bool) {
	t.Helper()
	args := []string{script(t), hex.EncodeToString(dataKey)}
	for k, v := range encCtx {
		args = append(args, k+"="+v)
	}
	cmd := exec.Command(python(t), args...)
	cmd.Stdin = bytes.NewReader(ct)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run stream_decrypt.py: %v", err)
	}
	return o.Bytes(), e.String(), err == nil
}
