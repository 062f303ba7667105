package tpm

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

func TestWrongPIN(t *testing.T) {
	tt := openTest(t)
	b, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PIN: []byte("right")})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := tt.Seal(ctx(), []byte("x"), KeySpec{Algorithm: Sealed, PIN: []byte("right")})
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(crypto.SHA256, "m")
	tests := []struct {
		name string
		pin  []byte
		rc   bool // the TPM itself refused: the response code is wrapped
	}{
		{"wrong-pin", []byte("wrong"), true},
		{"no-pin", nil, false},
		{"too-long", bytes.Repeat([]byte("x"), MaxPINSize+1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tt.Sign(ctx(), b, Auth{PIN: tc.pin}, d, SignOptions{Hash: crypto.SHA256})
			if !errors.Is(err, ErrAuthFail) {
				t.Errorf("Sign(pin %q) = %v, want ErrAuthFail", tc.pin, err)
			}
			if tc.rc && !errors.Is(err, tpm2.TPMRCAuthFail) {
				t.Errorf("Sign(pin %q) = %v, want it to wrap TPM_RC_AUTH_FAIL", tc.pin, err)
			}
			if _, err := tt.Unseal(ctx(), sealed, Auth{PIN: tc.pin}); !errors.Is(err, ErrAuthFail) {
				t.Errorf("Unseal(pin %q) = %v, want ErrAuthFail", tc.pin, err)
			}
		})
	}
	// The session survives failed authorizations.
	if _, err := tt.Sign(ctx(), b, Auth{PIN: []byte("right")}, d, SignOptions{Hash: crypto.SHA256}); err != nil {
		t.Errorf("Sign(right pin) after failures = %v, want nil", err)
	}
	resetLockout(t, tt)
}

// lockoutCommand sends a lockout-hierarchy command that go-tpm lacks
// (TPM2_DictionaryAttackParameters, TPM2_DictionaryAttackLockReset), with
// an empty lockout password.
func lockoutCommand(tr transport.TPM, cc tpm2.TPMCC, params ...uint32) error {
	cmd := binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMSTSessions))
	cmd = binary.BigEndian.AppendUint32(cmd, 0) // size, below
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(cc))
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(tpm2.TPMRHLockout))
	cmd = binary.BigEndian.AppendUint32(cmd, 9) // one empty password session
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(tpm2.TPMRSPW))
	cmd = append(cmd, 0, 0, 0, 0, 0)
	for _, v := range params {
		cmd = binary.BigEndian.AppendUint32(cmd, v)
	}
	binary.BigEndian.PutUint32(cmd[2:], uint32(len(cmd)))
	rsp, err := tr.Send(cmd)
	if err != nil {
		return err
	}
	if len(rsp) < 10 {
		return errors.New("short response")
	}
	if rc := tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10])); rc != tpm2.TPMRCSuccess {
		return rc
	}
	return nil
}

// resetLockout clears the DA counter, so later tests on this TPM start clean.
func resetLockout(t *testing.T, tt *testTPM) {
	t.Helper()
	err := tt.do(ctx(), "test", func(tr transport.TPM) error {
		return lockoutCommand(tr, tpm2.TPMCCDictionaryAttackLockReset)
	})
	if err != nil {
		t.Errorf("DictionaryAttackLockReset = %v", err)
	}
}

func TestLockout(t *testing.T) {
	tt := openTest(t)
	const maxTries = 3
	err := tt.do(ctx(), "test", func(tr transport.TPM) error {
		return lockoutCommand(tr, tpm2.TPMCCDictionaryAttackParameters, maxTries, 1000, 1000)
	})
	if err != nil {
		t.Fatalf("DictionaryAttackParameters = %v", err)
	}
	pinKey, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PIN: []byte("right")})
	if err != nil {
		t.Fatal(err)
	}
	noPIN, pub, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(crypto.SHA256, "m")
	for i := 1; i <= maxTries; i++ {
		if _, err := tt.Sign(ctx(), pinKey, Auth{PIN: []byte("wrong")}, d, SignOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrAuthFail) {
			t.Fatalf("wrong PIN #%d: Sign() = %v, want ErrAuthFail", i, err)
		}
	}
	for _, pin := range []string{"wrong", "right"} {
		_, err := tt.Sign(ctx(), pinKey, Auth{PIN: []byte(pin)}, d, SignOptions{Hash: crypto.SHA256})
		if !errors.Is(err, ErrLockout) || !errors.Is(err, tpm2.TPMRCLockout) {
			t.Errorf("locked out, Sign(pin %q) = %v, want ErrLockout wrapping TPM_RC_LOCKOUT", pin, err)
		}
	}
	// A key without PIN is NoDA: it keeps working during a lockout.
	sig, err := tt.Sign(ctx(), noPIN, Auth{}, d, SignOptions{Hash: crypto.SHA256})
	if err != nil || !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), d, sig) {
		t.Errorf("NoDA key during lockout: Sign() = %v, want a valid signature", err)
	}
	resetLockout(t, tt)
	if _, err := tt.Sign(ctx(), pinKey, Auth{PIN: []byte("right")}, d, SignOptions{Hash: crypto.SHA256}); err != nil {
		t.Errorf("after DictionaryAttackLockReset, Sign() = %v, want nil", err)
	}
}

// extendPCR extends PCR pcr with a SHA-256 event.
func extendPCR(t *testing.T, tt *testTPM, pcr int) {
	t.Helper()
	d := sha256.Sum256([]byte("event"))
	err := tt.do(ctx(), "test", func(tr transport.TPM) error {
		_, err := tpm2.PCRExtend{
			PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
			Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
		}.Execute(tr)
		return err
	})
	if err != nil {
		t.Fatalf("PCRExtend(%d) = %v", pcr, err)
	}
}

func TestPCRPolicy(t *testing.T) {
	tt := openTest(t)
	pcrs := []int{16, 23}
	sealed, err := tt.Seal(ctx(), []byte("bound"), KeySpec{Algorithm: Sealed, PCRs: pcrs})
	if err != nil {
		t.Fatal(err)
	}
	key, pub, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PCRs: pcrs, PIN: []byte("pin")})
	if err != nil {
		t.Fatal(err)
	}
	dec, rpub, err := tt.CreateKey(ctx(), KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt, PCRs: pcrs})
	if err != nil {
		t.Fatal(err)
	}
	a := Auth{PCRs: pcrs}
	pinAuth := Auth{PCRs: pcrs, PIN: []byte("pin")}
	d := digestOf(crypto.SHA256, "m")

	if got, err := tt.Unseal(ctx(), sealed, a); err != nil || string(got) != "bound" {
		t.Fatalf("Unseal() = %q, %v, want bound", got, err)
	}
	checkSign(t, tt.TPM, key, pinAuth, pub)
	checkDecrypt(t, tt.TPM, dec, a, rpub.(*rsa.PublicKey))
	if _, err := tt.Sign(ctx(), key, Auth{PCRs: pcrs, PIN: []byte("bad")}, d, SignOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrAuthFail) {
		t.Errorf("Sign(policy, wrong PIN) = %v, want ErrAuthFail", err)
	}
	if _, err := tt.Unseal(ctx(), sealed, Auth{}); !errors.Is(err, ErrPolicyMismatch) {
		t.Errorf("Unseal(no PCR list) = %v, want ErrPolicyMismatch", err)
	}

	extendPCR(t, tt, 23)
	if _, err := tt.Unseal(ctx(), sealed, a); !errors.Is(err, ErrPolicyMismatch) || !errors.Is(err, tpm2.TPMRCPolicyFail) {
		t.Errorf("after PCR extend, Unseal() = %v, want ErrPolicyMismatch wrapping TPM_RC_POLICY_FAIL", err)
	}
	if _, err := tt.Sign(ctx(), key, pinAuth, d, SignOptions{Hash: crypto.SHA256}); !errors.Is(err, ErrPolicyMismatch) {
		t.Errorf("after PCR extend, Sign() = %v, want ErrPolicyMismatch", err)
	}
	resetLockout(t, tt)
}
