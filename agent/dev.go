//go:build linux

package agent

import (
	"fmt"
	"os"
	"path/filepath"
)

// DevSpec is the TPM of --dev: the in-process simulator, present only in
// builds tagged simulator.
const DevSpec = "sim:"

// DevOptions returns the Options of --dev: the simulator, with state and
// socket in dir (made 0700, so only this user reaches the socket).
func DevOptions(dir string) (Options, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Options{}, fmt.Errorf("filepath.Abs: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return Options{}, fmt.Errorf("os.MkdirAll: %w", err)
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return Options{}, fmt.Errorf("os.Chmod: %w", err)
	}
	return Options{
		TPMSpec:    DevSpec,
		StateDir:   abs,
		SocketPath: filepath.Join(abs, "tpmkeyd.sock"),
		SocketMode: 0o600,

		SSHSocketPath: filepath.Join(abs, "ssh-agent.sock"),
		// The PKCS#11 socket sits next to it (docs/PKCS11.md).
		PKCS11SocketPath: filepath.Join(abs, "pkcs11.sock"),
	}, nil
}
