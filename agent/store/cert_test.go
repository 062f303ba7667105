package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCertificates(t *testing.T) {
	s, dir, _ := newTestStore(t)
	key := testRecord(1000, "web")
	if err := s.Create(key, 0); err != nil {
		t.Fatal(err)
	}
	crt := &Certificate{Alias: "web", KeyID: key.KeyID, OwnerUID: 1000, Created: time.Unix(1767225600, 0), DER: []byte{0x30, 1, 2}}
	if err := s.PutCertificate(crt); err != nil {
		t.Fatalf("PutCertificate = %v", err)
	}
	got, err := s.Certificate(1000, "web")
	if err != nil || !bytes.Equal(got.DER, crt.DER) || got.KeyID != key.KeyID {
		t.Fatalf("Certificate(web) = %+v, %v; want what was put", got, err)
	}
	if _, err := s.Certificate(1001, "web"); !errors.Is(err, ErrCertificateNotFound) {
		t.Errorf("Certificate as another uid = %v, want ErrCertificateNotFound", err)
	}
	list, next, err := s.Certificates(1000, "", 10)
	if err != nil || len(list) != 1 || next != "" {
		t.Errorf("Certificates = %d, %q, %v; want 1", len(list), next, err)
	}
	t.Run("moved-fails-its-mac", func(t *testing.T) {
		udir := filepath.Join(dir, "keys", "1000")
		data, _ := os.ReadFile(filepath.Join(udir, "web.cert"))
		os.WriteFile(filepath.Join(udir, "other.cert"), data, 0o600)
		if _, err := s.Certificate(1000, "other"); !errors.Is(err, ErrKeyInvalidated) {
			t.Errorf("Certificate(other) of a copied file = %v, want ErrKeyInvalidated", err)
		}
		os.Remove(filepath.Join(udir, "other.cert"))
		// A certificate renamed to a key record is refused as a key.
		os.WriteFile(filepath.Join(udir, "fake.key"), data, 0o600)
		s.DropCaches()
		if _, err := s.Get(1000, "fake"); !errors.Is(err, ErrKeyInvalidated) {
			t.Errorf("Get(fake) of a certificate file = %v, want ErrKeyInvalidated", err)
		}
		os.Remove(filepath.Join(udir, "fake.key"))
		s.DropCaches()
	})
	t.Run("tampered", func(t *testing.T) {
		p := filepath.Join(dir, "keys", "1000", "web.cert")
		data, _ := os.ReadFile(p)
		bad := bytes.Clone(data)
		bad[len(bad)-40] ^= 1
		os.WriteFile(p, bad, 0o600)
		if _, err := s.Certificate(1000, "web"); !errors.Is(err, ErrKeyInvalidated) {
			t.Errorf("Certificate(web) tampered = %v, want ErrKeyInvalidated", err)
		}
		os.WriteFile(p, data, 0o600)
	})
	if _, err := s.Delete(1000, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Certificate(1000, "web"); !errors.Is(err, ErrCertificateNotFound) {
		t.Errorf("Certificate(web) after the key's Delete = %v, want ErrCertificateNotFound", err)
	}
}
