package tpm

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
)

func TestLastAnswer(t *testing.T) {
	tt, _ := openFaulty(t)
	before := tt.LastAnswer()
	if before.IsZero() || time.Since(before) < 0 {
		t.Fatalf("LastAnswer() after Open = %v, want a time in the past", before)
	}
	time.Sleep(time.Millisecond)
	if err := tt.Ping(ctx()); err != nil {
		t.Fatal(err)
	}
	if after := tt.LastAnswer(); !after.After(before) || time.Since(after) < 0 {
		t.Errorf("LastAnswer() after Ping = %v, want after %v and not in the future", after, before)
	}
}

// TestHealthy: a recent answer is enough; an old one costs one command;
// a TPM stuck in a command longer than maxAge fails at the check's deadline.
func TestHealthy(t *testing.T) {
	tt, in := openFaulty(t)
	tests := []struct {
		name     string
		maxAge   time.Duration
		wantSent int
	}{
		{"recent-answer-asks-nothing", time.Hour, 0},
		{"old-answer-asks-once", 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.resetCounts()
			if err := tt.Healthy(ctx(), tc.maxAge); err != nil {
				t.Errorf("Healthy(%v) = %v, want nil", tc.maxAge, err)
			}
			if _, seen := in.counts(); seen[tpm2.TPMCCGetRandom] != tc.wantSent {
				t.Errorf("Healthy(%v) sent %v, want %d GetRandom", tc.maxAge, seen, tc.wantSent)
			}
		})
	}
	t.Run("stuck-command", func(t *testing.T) {
		k := makeSignKeys(t, tt.TPM, 1)[0]
		stalled, release := make(chan struct{}), make(chan struct{})
		in.set(stallNext(tpm2.TPMCCSign, stalled, release))
		defer in.set(nil)
		held := make(chan error, 1)
		go func() { held <- k.signAndVerify(tt.TPM, "stuck") }()
		<-stalled
		const maxAge = 20 * time.Millisecond
		time.Sleep(2 * maxAge)
		c, cancel := context.WithTimeout(ctx(), 50*time.Millisecond)
		defer cancel()
		if err := tt.Healthy(c, maxAge); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Healthy() while a command is stuck for %v = %v, want DeadlineExceeded", 2*maxAge, err)
		}
		close(release)
		if err := <-held; err != nil {
			t.Errorf("stuck Sign() once released = %v, want nil", err)
		}
		if err := tt.Healthy(ctx(), maxAge); err != nil {
			t.Errorf("Healthy() once the TPM answered = %v, want nil", err)
		}
	})
}

// TestHealthyWhileBusy: a TPM kept busy by a flood of slow commands is
// healthy at every check, and no check waits for a turn: each has a
// deadline shorter than one command.
func TestHealthyWhileBusy(t *testing.T) {
	const delay = 40 * time.Millisecond
	tt, in := openFaulty(t, func(o *Options) { o.MaxQueuedPerOwner = 32 })
	k := makeSignKeys(t, tt.TPM, 1)[0]
	in.set(delayEach(delay))
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { k.signAndVerifyCtx(WithOwner(ctx(), 1), tt.TPM, "busy") })
	}
	waitFor(t, "the flood to queue", func() bool { return tt.QueueLen() >= 8 })
	for i := 0; tt.QueueLen() > 2; i++ {
		c, cancel := context.WithTimeout(ctx(), delay/2)
		err := tt.Healthy(c, 3*delay)
		cancel()
		if err != nil {
			t.Fatalf("Healthy() #%d during the flood = %v, want nil", i, err)
		}
		time.Sleep(delay / 4)
	}
	wg.Wait()
}

// TestDecryptBadPaddingOnHealthyTPM: swtpm answers a bad padding with
// TPM_RC_FAILURE; the probe finds the TPM healthy, so it is bad input.
func TestDecryptBadPaddingOnHealthyTPM(t *testing.T) {
	tt, in := openFaulty(t)
	b, pub, err := tt.CreateKey(ctx(), KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	rpub := pub.(*rsa.PublicKey)
	oaep, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rpub, []byte("m"), nil)
	if err != nil {
		t.Fatal(err)
	}
	badOAEP := bytes.Clone(oaep)
	badOAEP[len(badOAEP)-1] ^= 1
	// 1 < c < n with no PKCS#1 v1.5 structure: the padding check fails.
	garbage := bytes.Repeat([]byte{0x01}, rpub.Size())
	tests := []struct {
		name   string
		ct     []byte
		scheme DecryptScheme
	}{
		{"corrupted-oaep", badOAEP, OAEPSHA256},
		{"garbage-pkcs1", garbage, PKCS1v15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.resetCounts()
			_, err := tt.Decrypt(ctx(), b, Auth{}, tc.ct, tc.scheme)
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrTPMFailure) {
				t.Errorf("Decrypt(%s) = %v, want ErrInvalid and not ErrTPMFailure", tc.name, err)
			}
			if _, seen := in.counts(); errors.Is(err, tpm2.TPMRCFailure) && seen[tpm2.TPMCCGetTestResult] != 1 {
				t.Errorf("after TPM_RC_FAILURE, sent %d TPM2_GetTestResult, want 1", seen[tpm2.TPMCCGetTestResult])
			}
			if err := tt.Healthy(ctx(), time.Hour); err != nil {
				t.Errorf("Healthy() after a bad ciphertext = %v, want nil", err)
			}
		})
	}
	if got, err := tt.Decrypt(ctx(), b, Auth{}, oaep, OAEPSHA256); err != nil || string(got) != "m" {
		t.Errorf("Decrypt(good) after bad ones = %q, %v, want m", got, err)
	}
}

// TestFailureMode: a TPM that answers TPM_RC_FAILURE to everything,
// GetTestResult included, is in failure mode: every call and the health
// check say ErrTPMFailure, never ErrInvalid, until the TPM is well again.
func TestFailureMode(t *testing.T) {
	tt, in := openFaulty(t)
	dec, pub, err := tt.CreateKey(ctx(), KeySpec{Algorithm: RSA2048, Purposes: PurposeDecrypt})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), []byte("m"), nil)
	if err != nil {
		t.Fatal(err)
	}
	k := makeSignKeys(t, tt.TPM, 1)[0]
	in.set(answerRC(0, tpm2.TPMRCFailure, -1))
	tests := []struct {
		name string
		op   func() error
	}{
		{"decrypt", func() error { _, err := tt.Decrypt(ctx(), dec, Auth{}, ct, OAEPSHA256); return err }},
		{"sign", func() error { return k.signAndVerify(tt.TPM, "m") }},
		{"ping", func() error { return tt.Ping(ctx()) }},
		{"healthy-despite-a-recent-answer", func() error { return tt.Healthy(ctx(), time.Hour) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op()
			if !errors.Is(err, ErrTPMFailure) || errors.Is(err, ErrInvalid) {
				t.Errorf("%s in failure mode = %v, want ErrTPMFailure and not ErrInvalid", tc.name, err)
			}
		})
	}
	in.set(nil)
	if err := tt.Healthy(ctx(), time.Hour); err != nil {
		t.Errorf("Healthy() once the TPM is well = %v, want nil", err)
	}
	if got, err := tt.Decrypt(ctx(), dec, Auth{}, ct, OAEPSHA256); err != nil || string(got) != "m" {
		t.Errorf("Decrypt() once the TPM is well = %q, %v, want m", got, err)
	}
}

// TestOpenInFailureMode: Open on a TPM in failure mode says so.
func TestOpenInFailureMode(t *testing.T) {
	tt := &testTPM{stateDir: t.TempDir()}
	sw := openSwtpmOnly(t)
	o, err := ParseSpec(sw.Spec(), tt.opts(t))
	if err != nil {
		t.Fatal(err)
	}
	in := &faultInjector{}
	in.set(answerRC(0, tpm2.TPMRCFailure, -1))
	if tp, err := Open(ctx(), in.wrap(o), tt.opts(t)); !errors.Is(err, ErrTPMFailure) {
		if tp != nil {
			tp.Close()
		}
		t.Errorf("Open(TPM in failure mode) = %v, want ErrTPMFailure", err)
	}
	sw.AssertNoTransients()
}
