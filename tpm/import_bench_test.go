package tpm

import (
	"context"
	"testing"
)

// BenchmarkImportKey measures plaintext import (software wrap + TPM2_Import)
// on swtpm, per algorithm.
func BenchmarkImportKey(b *testing.B) {
	tt := openTest(b)
	ctx := context.Background()
	for _, alg := range []Algorithm{ECCP256, RSA2048} {
		k := benchKey(b, alg)
		b.Run(alg.String(), func(b *testing.B) {
			for b.Loop() {
				blob, _, err := tt.ImportKey(ctx, KeySpec{Algorithm: alg, Purposes: PurposeSign}, k)
				if err != nil {
					b.Fatal(err)
				}
				tt.Forget(blob)
			}
		})
	}
}

// BenchmarkExportKey measures ExportKey (Load, LoadExternal, policy
// session, TPM2_Duplicate) on swtpm.
func BenchmarkExportKey(b *testing.B) {
	a, t2 := openTest(b), openTest(b)
	ctx := context.Background()
	target := mustParent(b, t2.SRKPublic())
	for _, alg := range []Algorithm{ECCP256, RSA2048} {
		blob, _, err := a.CreateKey(ctx, KeySpec{Algorithm: alg, Purposes: PurposeSign, ExportTo: t2.SRKName()})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg.String(), func(b *testing.B) {
			for b.Loop() {
				if _, err := a.ExportKey(ctx, blob, target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
