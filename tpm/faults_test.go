package tpm

import (
	"context"
	"crypto"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// faultInjector sits, in-process, between the package and a real swtpm.
// Every transport its opener dials consults the same hook, so a fault
// survives a reconnection until the test clears it.
type faultInjector struct {
	mu    sync.Mutex
	hook  faultHook // nil: pass everything through
	dials int
	seen  map[tpm2.TPMCC]int // commands that reached the injector
}

// faultHook answers cmd itself, or passes it to next.
type faultHook func(cc tpm2.TPMCC, cmd []byte, next transport.TPM) ([]byte, error)

func (in *faultInjector) set(h faultHook) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.hook = h
}

func (in *faultInjector) counts() (dials int, seen map[tpm2.TPMCC]int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	seen = map[tpm2.TPMCC]int{}
	for cc, n := range in.seen {
		seen[cc] = n
	}
	return in.dials, seen
}

func (in *faultInjector) resetCounts() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.dials, in.seen = 0, nil
}

// wrap returns o with every dialed transport passing through in.
func (in *faultInjector) wrap(o Opener) Opener {
	dial := o.Dial
	o.Dial = func(ctx context.Context) (transport.TPMCloser, error) {
		tr, err := dial(ctx)
		if err != nil {
			return nil, err
		}
		in.mu.Lock()
		in.dials++
		in.mu.Unlock()
		return &faultyTransport{in: in, next: tr}, nil
	}
	return o
}

type faultyTransport struct {
	in   *faultInjector
	next transport.TPMCloser
}

func (f *faultyTransport) Send(cmd []byte) ([]byte, error) {
	cc := commandCode(cmd)
	f.in.mu.Lock()
	if f.in.seen == nil {
		f.in.seen = map[tpm2.TPMCC]int{}
	}
	f.in.seen[cc]++
	hook := f.in.hook
	f.in.mu.Unlock()
	if hook == nil {
		return f.next.Send(cmd)
	}
	return hook(cc, cmd, f.next)
}

func (f *faultyTransport) Close() error { return f.next.Close() }

func commandCode(cmd []byte) tpm2.TPMCC {
	if len(cmd) < cmdHeaderSize {
		return 0
	}
	return tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10]))
}

// rcResponse is a bare response carrying rc, as a TPM sends for an error.
func rcResponse(rc tpm2.TPMRC) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMSTNoSessions))
	b = binary.BigEndian.AppendUint32(b, cmdHeaderSize)
	return binary.BigEndian.AppendUint32(b, uint32(rc))
}

var errInjectedDrop = errors.New("injected: connection dropped before the response")

// dropResponse lets the first n commands cc reach the TPM, then breaks the
// connection before their response arrives, as a pulled cable would.
func dropResponse(target tpm2.TPMCC, n int) faultHook {
	var mu sync.Mutex
	return func(cc tpm2.TPMCC, cmd []byte, next transport.TPM) ([]byte, error) {
		mu.Lock()
		drop := cc == target && n > 0
		if drop {
			n--
		}
		mu.Unlock()
		rsp, err := next.Send(cmd)
		if drop {
			next.(transport.TPMCloser).Close()
			return nil, errInjectedDrop
		}
		return rsp, err
	}
}

// answerRC answers the first n commands cc with rc (n < 0: all of them)
// without sending them.
func answerRC(target tpm2.TPMCC, rc tpm2.TPMRC, n int) faultHook {
	var mu sync.Mutex
	return func(cc tpm2.TPMCC, cmd []byte, next transport.TPM) ([]byte, error) {
		mu.Lock()
		hit := (target == 0 || cc == target) && n != 0
		if hit && n > 0 {
			n--
		}
		mu.Unlock()
		if hit {
			return rcResponse(rc), nil
		}
		return next.Send(cmd)
	}
}

// delayEach sends every command late by d: a slow TPM.
func delayEach(d time.Duration) faultHook {
	return func(_ tpm2.TPMCC, cmd []byte, next transport.TPM) ([]byte, error) {
		time.Sleep(d)
		return next.Send(cmd)
	}
}

// stallNext holds the next command cc until release is closed; stalled is
// closed when it is held.
func stallNext(target tpm2.TPMCC, stalled, release chan struct{}) faultHook {
	var once sync.Once
	return func(cc tpm2.TPMCC, cmd []byte, next transport.TPM) ([]byte, error) {
		if cc == target {
			held := false
			once.Do(func() { held = true })
			if held {
				close(stalled)
				<-release
			}
		}
		return next.Send(cmd)
	}
}

// openSwtpmOnly starts a private swtpm, for a test that opens it itself.
func openSwtpmOnly(t *testing.T) *swtpmtest.Instance {
	t.Helper()
	return swtpmtest.Start(t)
}

// openFaulty opens a TPM on a private swtpm through a fault injector;
// cleanup closes it and checks that no handle is left.
func openFaulty(t *testing.T, opts ...func(*Options)) (*testTPM, *faultInjector) {
	t.Helper()
	sw := swtpmtest.Start(t)
	tt := &testTPM{sw: sw, stateDir: t.TempDir()}
	o := tt.opts(t)
	for _, f := range opts {
		f(&o)
	}
	op, err := ParseSpec(sw.Spec(), o)
	if err != nil {
		t.Fatalf("ParseSpec(%q) = %v", sw.Spec(), err)
	}
	in := &faultInjector{}
	tp, err := Open(ctx(), in.wrap(op), o)
	if err != nil {
		t.Fatalf("Open(faulty %q) = %v", sw.Spec(), err)
	}
	tt.TPM = tp
	t.Cleanup(func() {
		in.set(nil)
		if err := tt.TPM.Close(); err != nil {
			t.Errorf("Close() = %v, want nil", err)
		}
		sw.AssertNoTransients()
	})
	in.resetCounts()
	return tt, in
}

// TestFaultDroppedResponse: a connection that breaks after the TPM acted
// but before it answered is redialled once, through the Opener, and the
// command is sent again on the new connection.
func TestFaultDroppedResponse(t *testing.T) {
	tests := []struct {
		name string
		cc   tpm2.TPMCC
		op   func(tt *testTPM, k signKey) error
	}{
		{"sign", tpm2.TPMCCSign, func(tt *testTPM, k signKey) error { return k.signAndVerify(tt.TPM, "drop") }},
		{"load", tpm2.TPMCCLoad, func(tt *testTPM, k signKey) error { return k.signAndVerify(tt.TPM, "drop") }},
		{"create", tpm2.TPMCCCreate, func(tt *testTPM, _ signKey) error {
			_, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
			return err
		}},
		{"get-random", tpm2.TPMCCGetRandom, func(tt *testTPM, _ signKey) error { return tt.Ping(ctx()) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tt, in := openFaulty(t)
			k := makeSignKeys(t, tt.TPM, 1)[0]
			if tc.cc == tpm2.TPMCCLoad {
				tt.Forget(k.blob) // so that the next Sign loads it
			}
			in.resetCounts()
			in.set(dropResponse(tc.cc, 1))
			if err := tc.op(tt, k); err != nil {
				t.Fatalf("%s with one dropped response = %v, want nil", tc.name, err)
			}
			if dials, seen := in.counts(); dials != 1 || seen[tc.cc] < 2 {
				t.Errorf("%s: redialled %d times and sent %v %d times, want 1 redial and at least 2 sends",
					tc.name, dials, tc.cc, seen[tc.cc])
			}
		})
	}
}

// TestFaultBrokenAgain: a connection that breaks again right after the
// redial gives ErrUnavailable (one redial per call, no loop); the next call
// redials and works once the fault is gone.
func TestFaultBrokenAgain(t *testing.T) {
	tt, in := openFaulty(t)
	k := makeSignKeys(t, tt.TPM, 1)[0]
	in.set(dropResponse(tpm2.TPMCCSign, 1000))
	if err := k.signAndVerify(tt.TPM, "x"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Sign() on a connection that keeps breaking = %v, want ErrUnavailable", err)
	}
	if dials, _ := in.counts(); dials != 1 {
		t.Errorf("redialled %d times in one call, want 1", dials)
	}
	in.set(nil)
	if err := k.signAndVerify(tt.TPM, "x"); err != nil {
		t.Errorf("Sign() after the fault cleared = %v, want nil", err)
	}
}

// TestFaultRetry: the TPM's retry warnings are retried with a backoff, a
// bounded number of times, on the same connection.
func TestFaultRetry(t *testing.T) {
	tests := []struct {
		name      string
		rc        tpm2.TPMRC
		n         int
		wantErr   bool
		wantSigns int
	}{
		{"retry-once", tpm2.TPMRCRetry, 1, false, 2},
		{"retry-three-times", tpm2.TPMRCRetry, 3, false, 4},
		{"yielded", tpm2.TPMRCYielded, 2, false, 3},
		{"testing", tpm2.TPMRCTesting, 2, false, 3},
		{"retry-forever", tpm2.TPMRCRetry, -1, true, maxAttempts},
	}
	tt, in := openFaulty(t)
	k := makeSignKeys(t, tt.TPM, 1)[0]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.resetCounts()
			in.set(answerRC(tpm2.TPMCCSign, tc.rc, tc.n))
			defer in.set(nil)
			err := k.signAndVerify(tt.TPM, "retry")
			if tc.wantErr && !errors.Is(err, tc.rc) {
				t.Errorf("Sign() answered %v every time = %v, want it wrapped", tc.rc, err)
			}
			if !tc.wantErr && err != nil {
				t.Errorf("Sign() after %d × %v = %v, want nil", tc.n, tc.rc, err)
			}
			dials, seen := in.counts()
			if seen[tpm2.TPMCCSign] != tc.wantSigns || dials != 0 {
				t.Errorf("TPM2_Sign sent %d times over %d redials, want %d over none", seen[tpm2.TPMCCSign], dials, tc.wantSigns)
			}
		})
	}
}

// TestFaultRetryHonoursDeadline: the backoff between retries ends with the
// caller's deadline.
func TestFaultRetryHonoursDeadline(t *testing.T) {
	tt, in := openFaulty(t)
	k := makeSignKeys(t, tt.TPM, 1)[0]
	in.set(answerRC(tpm2.TPMCCSign, tpm2.TPMRCRetry, -1))
	c, cancel := context.WithTimeout(ctx(), time.Millisecond)
	defer cancel()
	_, err := tt.Sign(c, k.blob, k.auth, digestOf(crypto.SHA256, "m"), SignOptions{Hash: crypto.SHA256})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Sign() under endless RETRY with a 1 ms deadline = %v, want DeadlineExceeded", err)
	}
}
