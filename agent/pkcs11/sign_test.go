package pkcs11

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"testing"
)

// TestRawECDSA checks the hand-written DER reader against encoding/asn1
// on real signatures (P-256 and P-384, whose r and s are often shorter
// than the curve or need a leading zero byte), and refuses what is not a
// minimal DER SEQUENCE of two positive INTEGERs that fit.
func TestRawECDSA(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		n := uint32((curve.Params().BitSize + 7) / 8)
		t.Run(curve.Params().Name, func(t *testing.T) {
			for i := range 300 {
				d := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
				der, err := ecdsa.SignASN1(rand.Reader, k, d[:])
				if err != nil {
					t.Fatal(err)
				}
				var sig struct{ R, S *big.Int }
				if _, err := asn1.Unmarshal(der, &sig); err != nil {
					t.Fatal(err)
				}
				want := make([]byte, 2*n)
				sig.R.FillBytes(want[:n])
				sig.S.FillBytes(want[n:])
				if got, ok := rawECDSA(der, n); !ok || !bytes.Equal(got, want) {
					t.Fatalf("rawECDSA(%x) = %x, %v, want %x, true", der, got, ok, want)
				}
			}
		})
	}
	bad := []string{
		"",
		"30",
		"3006020101020101ff",                     // trailing byte
		"3007020101020101",                       // length past the end
		"3106020101020101",                       // not a SEQUENCE
		"3006030101020101",                       // not an INTEGER
		"30060201ff020101",                       // negative r
		"3006020100020101",                       // zero r
		"300702020001020101",                     // non-minimal r
		"3005020101020100"[:10],                  // truncated
		"30050201010200",                         // empty s
		"30260221" + repeat("01", 33) + "020101", // r of 33 bytes for a 32-byte curve
		"308106020101020101",                     // long-form length
	}
	for _, h := range bad {
		b, _ := hex.DecodeString(h)
		if got, ok := rawECDSA(b, 32); ok {
			t.Errorf("rawECDSA(%s) = %x, true, want false", h, got)
		}
	}
}

func repeat(s string, n int) string { return string(bytes.Repeat([]byte(s), n)) }
