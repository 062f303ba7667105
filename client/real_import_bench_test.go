package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// BenchmarkRealImportExport measures ImportKey (plain PKCS #8) and
// ExportKey per key through the real daemon on swtpm (the TestMain
// fixture). Export goes to the daemon's own SRK, which is as much TPM
// work as to another.
func BenchmarkRealImportExport(b *testing.B) {
	c, err := client.Dial(context.Background(), "")
	if err != nil {
		b.Skipf("no fixture: %v", err)
	}
	defer c.Close()
	ctx := context.Background()
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, k := range map[string]any{"ec-p256": ec, "rsa-2048": rk} {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		b.Run("import-"+name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				alias := fmt.Sprintf("bench-imp-%s-%d", name, i)
				i++
				if _, err := c.ImportKey(ctx, alias, der); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				c.DeleteKey(ctx, alias)
				b.StartTimer()
			}
		})
	}
	st, err := c.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []client.Algorithm{client.AlgECP256, client.AlgRSA2048} {
		alias := "bench-exp-" + string(alg)
		if _, err := c.GenerateKey(ctx, alias, alg, client.WithBackupTo(st.SRKPublic)); err != nil {
			b.Fatal(err)
		}
		b.Run("export-"+string(alg), func(b *testing.B) {
			for b.Loop() {
				if _, err := c.ExportKey(ctx, alias, st.SRKPublic); err != nil {
					b.Fatal(err)
				}
			}
		})
		c.DeleteKey(ctx, alias)
	}
}
