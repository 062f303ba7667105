package tpm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// answerClock records when the TPM last answered, on the monotonic clock,
// so that a wall-clock step cannot make a healthy TPM look stale.
type answerClock struct {
	epoch time.Time    // set at Open, read-only after
	last  atomic.Int64 // time.Since(epoch) at the last response, in ns
}

func (c *answerClock) mark()         { c.last.Store(int64(time.Since(c.epoch))) }
func (c *answerClock) at() time.Time { return c.epoch.Add(time.Duration(c.last.Load())) }

// DefaultAnswerAge is a maxAge for Healthy that suits a watchdog: longer
// than most single commands take (an RSA keygen on a slow chip may not
// be), far shorter than a systemd watchdog interval.
const DefaultAnswerAge = 5 * time.Second

// LastAnswer is when the TPM last answered a command, any command and any
// answer, error codes included.
func (t *TPM) LastAnswer() time.Time { return t.answers.at() }

// Healthy reports whether the TPM is serving, for a watchdog. A TPM that
// answered within maxAge is healthy without being asked again, so a busy
// TPM never has to queue a probe behind its own work. Otherwise Healthy
// sends one cheap command, which then waits for a turn only behind a
// command that has run longer than maxAge: a TPM stuck in it fails the
// check when ctx ends. A TPM found in failure mode fails with
// ErrTPMFailure until a probe finds it well again.
func (t *TPM) Healthy(ctx context.Context, maxAge time.Duration) error {
	if t.failing.Load() {
		return t.do(ctx, "tpm.Healthy", func(transport.TPM) error { return t.probeLocked() })
	}
	if time.Since(t.LastAnswer()) <= maxAge {
		return nil
	}
	return t.do(ctx, "tpm.Healthy", getRandomByte)
}

// WatchdogCheck is Healthy with DefaultAnswerAge, shaped for a watchdog
// that gives each check its deadline.
func (t *TPM) WatchdogCheck(ctx context.Context) error { return t.Healthy(ctx, DefaultAnswerAge) }

// Ping checks that the TPM answers, reconnecting if needed.
func (t *TPM) Ping(ctx context.Context) error {
	return t.do(ctx, "tpm.Ping", getRandomByte)
}

func getRandomByte(tr transport.TPM) error {
	_, err := tpm2.GetRandom{BytesRequested: 1}.Execute(tr)
	return err
}

// classifyLocked is classify, except that a TPM_RC_FAILURE is first
// checked with a probe: libtpms answers a bad RSA padding with it while
// staying healthy, so the code alone cannot tell bad input from a TPM in
// failure mode.
func (t *TPM) classifyLocked(op string, err error) error {
	if !errors.Is(err, tpm2.TPMRCFailure) || t.wire.failed != nil {
		return classify(op, err)
	}
	if perr := t.probeLocked(); errors.Is(perr, ErrTPMFailure) {
		return fmt.Errorf("%s: %w: %w", op, ErrTPMFailure, err)
	}
	return classify(op, err)
}

// probeLocked asks the TPM whether it is in failure mode (TPM2_GetTestResult,
// which a TPM answers even then) and records the verdict. It returns
// ErrTPMFailure, nil for a healthy TPM, or another error when the probe
// itself gave no verdict (the transport broke, the TPM said RETRY).
func (t *TPM) probeLocked() error {
	rsp, err := t.wire.Send(getTestResultCmd())
	if err != nil {
		return err
	}
	result, err := parseTestResultRsp(rsp)
	switch {
	case errors.Is(err, tpm2.TPMRCFailure), err == nil && result == tpm2.TPMRCFailure:
		if !t.failing.Swap(true) {
			t.log.Error("the TPM is in failure mode; it needs a reset (reboot)", "op", "health")
		}
		return ErrTPMFailure
	case err != nil:
		return fmt.Errorf("TPM2_GetTestResult: %w", err)
	}
	if t.failing.Swap(false) {
		t.log.Warn("the TPM is out of failure mode", "op", "health")
	}
	return nil
}

// getTestResultCmd encodes TPM2_GetTestResult (Part 3 §10.4): no handles,
// no sessions, no parameters.
func getTestResultCmd() []byte {
	b := binary.BigEndian.AppendUint16(make([]byte, 0, cmdHeaderSize), uint16(tpm2.TPMSTNoSessions))
	b = binary.BigEndian.AppendUint32(b, cmdHeaderSize)
	return binary.BigEndian.AppendUint32(b, uint32(tpm2.TPMCCGetTestResult))
}

// parseTestResultRsp returns testResult from a TPM2_GetTestResult
// response: outData (a TPM2B, vendor-specific) and then testResult.
func parseTestResultRsp(rsp []byte) (tpm2.TPMRC, error) {
	tag, body, err := splitRsp(rsp)
	if err != nil {
		return 0, err
	}
	if tag != tpm2.TPMSTNoSessions {
		return 0, fmt.Errorf("%w: TPM2_GetTestResult tag %#x", errMalformed, uint16(tag))
	}
	_, rest, err := take2B(body)
	if err != nil || len(rest) != 4 {
		return 0, fmt.Errorf("%w: TPM2_GetTestResult", errMalformed)
	}
	return tpm2.TPMRC(binary.BigEndian.Uint32(rest)), nil
}
