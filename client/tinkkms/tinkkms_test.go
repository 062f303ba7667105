package tinkkms_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/core/registry"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/client/tinkkms"
)

func dial(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), "")
	if err != nil {
		t.Fatalf("client.Dial = %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newKey(t *testing.T, c *client.Client, alias string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.GenerateKey(ctx, alias, client.AlgAES256GCM); err != nil {
		t.Fatalf("GenerateKey(%s, aes-256-gcm) = %v", alias, err)
	}
	t.Cleanup(func() { c.DeleteKey(ctx, alias) })
}

func TestSupported(t *testing.T) {
	c := dial(t)
	all, _ := tinkkms.New(c, "tpmkeyd://")
	one, _ := tinkkms.New(c, "tpmkeyd://backup")
	tests := []struct {
		kms  *tinkkms.Client
		uri  string
		want bool
	}{
		{all, "tpmkeyd://backup", true}, {all, "tpmkeyd://", false}, {all, "gcp-kms://x", false},
		{all, "aws-kms://tpmkeyd://x", false}, {one, "tpmkeyd://backup", true}, {one, "tpmkeyd://other", false},
	}
	for _, tt := range tests {
		if got := tt.kms.Supported(tt.uri); got != tt.want {
			t.Errorf("Supported(%q) = %v, want %v", tt.uri, got, tt.want)
		}
	}
	if _, err := all.GetAEAD("gcp-kms://x"); !errors.Is(err, tinkkms.ErrUnsupportedURI) {
		t.Errorf("GetAEAD(gcp-kms://x) = %v, want ErrUnsupportedURI", err)
	}
	if _, err := tinkkms.New(c, "gcp-kms://"); !errors.Is(err, tinkkms.ErrUnsupportedURI) {
		t.Errorf("New(gcp-kms://) = %v, want ErrUnsupportedURI", err)
	}
}

// TestEnvelopeAEAD runs Tink's own KMS envelope AEAD with a tpmkeyd key as
// its key-encryption key, found through Tink's KMS client registry.
func TestEnvelopeAEAD(t *testing.T) {
	c := dial(t)
	newKey(t, c, "kek")
	newKey(t, c, "other-kek")
	kms, err := tinkkms.New(c, "tpmkeyd://")
	if err != nil {
		t.Fatal(err)
	}
	registry.RegisterKMSClient(kms)
	t.Cleanup(registry.ClearKMSClients)
	envelope := func(uri string) *aead.KMSEnvelopeAEAD {
		kc, err := registry.GetKMSClient(uri)
		if err != nil {
			t.Fatalf("registry.GetKMSClient(%s) = %v", uri, err)
		}
		kek, err := kc.GetAEAD(uri)
		if err != nil {
			t.Fatalf("GetAEAD(%s) = %v", uri, err)
		}
		return aead.NewKMSEnvelopeAEAD2(aead.AES256GCMKeyTemplate(), kek)
	}
	env := envelope("tpmkeyd://kek")
	pt, ad := bytes.Repeat([]byte("envelope "), 1000), []byte("row 17")
	ct, err := env.Encrypt(pt, ad)
	if err != nil {
		t.Fatalf("Encrypt = %v", err)
	}
	if got, err := env.Decrypt(ct, ad); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("Decrypt(Encrypt(pt)) = %d bytes, %v; want the plaintext", len(got), err)
	}
	if got, err := envelope("tpmkeyd://kek").Decrypt(ct, ad); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("Decrypt with a second envelope of the same key = %d bytes, %v; want the plaintext", len(got), err)
	}
	if _, err := env.Decrypt(ct, []byte("row 18")); err == nil {
		t.Error("Decrypt(wrong associated data) = nil error, want a failure")
	}
	if _, err := env.Decrypt(ct, nil); err == nil {
		t.Error("Decrypt(no associated data) = nil error, want a failure")
	}
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1
	if _, err := env.Decrypt(bad, ad); err == nil {
		t.Error("Decrypt(altered ciphertext) = nil error, want a failure")
	}
	if _, err := envelope("tpmkeyd://other-kek").Decrypt(ct, ad); err == nil {
		t.Error("Decrypt under another tpmkeyd key = nil error, want a failure")
	}
	if _, err := envelope("tpmkeyd://missing").Encrypt(pt, ad); !errors.Is(err, client.ErrKeyNotFound) {
		t.Errorf("Encrypt with a missing key = %v, want ErrKeyNotFound", err)
	}
}
