package tpm

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// TestBusProbeSeesNoSecret puts a recording proxy (a probe on the TPM bus)
// between the package and swtpm and checks that no PIN, sealed secret,
// decrypted plaintext or ECDH result crosses it in the clear.
func TestBusProbeSeesNoSecret(t *testing.T) {
	sw := swtpmtest.Start(t)
	tap := sw.StartTap()
	tp, err := OpenSpec(ctx(), tap.Spec(), Options{StateDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(%q) = %v", tap.Spec(), err)
	}
	pin := []byte("pin-7f3a9c1e-on-the-bus?")
	var secrets [][]byte
	secrets = append(secrets, pin)

	// A sealed secret with a PIN: create (sensitive data) and unseal.
	sealed := []byte("sealed-5b2d8e47a1c0-secret-bytes")
	secrets = append(secrets, sealed)
	sb, err := tp.Seal(ctx(), sealed, KeySpec{Algorithm: Sealed, PIN: pin})
	if err != nil {
		t.Fatalf("Seal = %v", err)
	}
	if got, err := tp.Unseal(ctx(), sb, Auth{PIN: pin}); err != nil || !bytes.Equal(got, sealed) {
		t.Fatalf("Unseal = %q, %v, want %q", got, err, sealed)
	}

	// A sealed secret without a PIN: still encrypted both ways.
	open := []byte("sealed-no-pin-91d3c7a05e")
	secrets = append(secrets, open)
	ob, err := tp.Seal(ctx(), open, KeySpec{Algorithm: Sealed})
	if err != nil {
		t.Fatalf("Seal(no PIN) = %v", err)
	}
	if got, err := tp.Unseal(ctx(), ob, Auth{}); err != nil || !bytes.Equal(got, open) {
		t.Fatalf("Unseal(no PIN) = %q, %v, want %q", got, err, open)
	}

	// An ECDSA key with a PIN: create and sign.
	eb, _, err := tp.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign | PurposeAgree, PIN: pin})
	if err != nil {
		t.Fatalf("CreateKey(ec-p256) = %v", err)
	}
	digest := sha256.Sum256([]byte("message"))
	if _, err := tp.Sign(ctx(), eb, Auth{PIN: pin}, digest[:], SignOptions{Hash: 5 /* crypto.SHA256 */}); err != nil {
		t.Fatalf("Sign = %v", err)
	}
	// ECDH: the shared secret comes back from the TPM.
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	z, err := tp.ECDH(ctx(), eb, Auth{PIN: pin}, peer.PublicKey())
	if err != nil {
		t.Fatalf("ECDH = %v", err)
	}
	secrets = append(secrets, z)

	// RSA decrypt: the plaintext comes back from the TPM.
	rb, rpub, err := tp.CreateKey(ctx(), KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt})
	if err != nil {
		t.Fatalf("CreateKey(rsa-2048) = %v", err)
	}
	plain := []byte("plaintext-0c9e2f6b-never-in-clear")
	secrets = append(secrets, plain)
	ct, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, rpub.(*rsa.PublicKey), plain, nil)
	if got, err := tp.Decrypt(ctx(), rb, Auth{}, ct, OAEPSHA256); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Decrypt = %q, %v, want %q", got, err, plain)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	if tap.Len() == 0 {
		t.Fatal("the tap recorded nothing: the test is not on the bus")
	}
	for _, s := range secrets {
		if tap.Seen(s) {
			t.Errorf("secret %q crossed the TPM bus in the clear", s)
		}
	}
	sw.AssertNoTransients()
}

// TestBusProbeSeesPlainUnseal is the control for the test above: an unseal
// without parameter encryption shows its secret to the same probe, so the
// probe would catch a leak.
func TestBusProbeSeesPlainUnseal(t *testing.T) {
	sw := swtpmtest.Start(t)
	tap := sw.StartTap()
	tp, err := OpenSpec(ctx(), tap.Spec(), Options{StateDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	secret := []byte("control-secret-3e8a1f")
	b, err := tp.Seal(ctx(), secret, KeySpec{Algorithm: Sealed})
	if err != nil {
		t.Fatalf("Seal = %v", err)
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if tap.Seen(secret) {
		t.Fatalf("sealing sent the secret in the clear")
	}

	// Load and unseal by hand, with a plain password session.
	tr, err := swtpmtest.OpenSpecTCP(tap.Port)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	srk, err := tpm2.CreatePrimary{PrimaryHandle: tpm2.TPMRHOwner, InPublic: tpm2.New2B(tpm2.ECCSRKTemplate)}.Execute(tr)
	if err != nil {
		t.Fatalf("CreatePrimary = %v", err)
	}
	defer tpm2.FlushContext{FlushHandle: srk.ObjectHandle}.Execute(tr)
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](b.Public)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](b.Private)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{Handle: srk.ObjectHandle, Name: srk.Name, Auth: tpm2.PasswordAuth(nil)},
		InPublic:     *pub, InPrivate: *priv,
	}.Execute(tr)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	defer tpm2.FlushContext{FlushHandle: ld.ObjectHandle}.Execute(tr)
	if _, err := (tpm2.Unseal{ItemHandle: tpm2.AuthHandle{Handle: ld.ObjectHandle, Name: ld.Name, Auth: tpm2.PasswordAuth(nil)}}).Execute(tr); err != nil {
		t.Fatalf("Unseal = %v", err)
	}
	if !tap.Seen(secret) {
		t.Errorf("a plain unseal did not show its secret to the probe: the probe is blind")
	}
}
