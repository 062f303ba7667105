package core

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// srkFile writes a made-up ECC SRK public area (the standard template
// with a fixed point) and returns its path, bytes and Name.
func srkFile(t *testing.T, x byte) (string, []byte, []byte) {
	t.Helper()
	pub := tpm2.ECCSRKTemplate
	// A point on the curve: the P-256 generator.
	gx := []byte{0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
		0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96}
	gy := []byte{0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
		0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5}
	pub.Unique = tpm2.NewTPMUPublicID(tpm2.TPMAlgECC, &tpm2.TPMSECCPoint{
		X: tpm2.TPM2BECCParameter{Buffer: gx}, Y: tpm2.TPM2BECCParameter{Buffer: gy}})
	pub.AuthPolicy = tpm2.TPM2BDigest{Buffer: []byte{x}} // tells two SRKs apart by Name
	if x == 0 {
		pub.AuthPolicy = tpm2.TPM2BDigest{}
	}
	data := tpm2.Marshal(tpm2.New2B(pub))
	name, err := wrap.Name(&pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "srk.pub")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, data, name
}

// TestBackupTarget: backup.target is read and checked at load; with it,
// exportable uses it and backup_to may name only it.
func TestBackupTarget(t *testing.T) {
	path, data, name := srkFile(t, 0)
	_, other, _ := srkFile(t, 1)
	cfg := DefaultConfig()
	cfg.Backup.Target = path
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate(backup.target) = %v", err)
	}
	st := &Settings{cfg: cfg}
	for _, tc := range []struct {
		name string
		req  protocol.GenerateKeyRequest
		want []byte
		err  error
	}{
		{"stays", protocol.GenerateKeyRequest{}, nil, nil},
		{"exportable", protocol.GenerateKeyRequest{Exportable: true}, name, nil},
		{"backup-to-same", protocol.GenerateKeyRequest{BackupTo: data}, name, nil},
		{"backup-to-other", protocol.GenerateKeyRequest{BackupTo: other}, nil, ErrPermissionDenied},
		{"backup-to-garbage", protocol.GenerateKeyRequest{BackupTo: []byte{0, 1, 2}}, nil, protocol.ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.exportTarget(&tc.req)
			if !errors.Is(err, tc.err) || string(got) != string(tc.want) {
				t.Fatalf("exportTarget(%s) = %x, %v; want %x, %v", tc.name, got, err, tc.want, tc.err)
			}
		})
	}
	none := &Settings{cfg: DefaultConfig()}
	if _, err := none.exportTarget(&protocol.GenerateKeyRequest{Exportable: true}); !errors.Is(err, protocol.ErrBadRequest) {
		t.Fatalf("exportTarget(exportable, no target) = %v, want BAD_REQUEST", err)
	}
	bad := DefaultConfig()
	bad.Backup.Target = filepath.Join(t.TempDir(), "missing")
	if err := bad.Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate(missing backup.target) = %v, want ErrInvalidConfig", err)
	}
}
