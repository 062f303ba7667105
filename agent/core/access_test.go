package core

import (
	"errors"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

func u32(v uint32) *uint32 { return &v }

func TestNamespace(t *testing.T) {
	cfg := DefaultConfig()
	cfg.AdminGroup = "4000"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	st := &Settings{cfg: cfg}
	user := &Caller{UID: 1000, GID: 1000, Groups: []uint32{1000}}
	admin := &Caller{UID: 1001, GID: 1001, Groups: []uint32{1001, 4000}}
	root := &Caller{UID: 0, GID: 0, Groups: []uint32{0}}
	tests := []struct {
		name    string
		caller  *Caller
		uid     *uint32
		want    uint32
		wantErr error
	}{
		{"own-implicit", user, nil, 1000, nil},
		{"own-explicit", user, u32(1000), 1000, nil},
		{"user-names-root", user, u32(0), 0, ErrPermissionDenied},
		{"user-names-other", user, u32(1001), 0, ErrPermissionDenied},
		{"root-names-user", root, u32(1000), 1000, nil},
		{"admin-group-names-user", admin, u32(1000), 1000, nil},
		{"admin-implicit-own", admin, nil, 1001, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := st.namespace(tc.caller, tc.uid)
			if !errors.Is(err, tc.wantErr) || (err == nil && got != tc.want) {
				t.Errorf("namespace(uid %d, %v) = %d, %v; want %d, %v", tc.caller.UID, tc.uid, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

// fakeRequest runs one typed request through td's core as a caller the

// test makes up (in-process, the kernel gives every connection our own

// uid), with no front end: the core alone decides.

// TestOtherUIDsKeys: a key of uid 0 does not exist for uid 4242, whatever

// it asks, and naming uid 0 is refused.

// caller is the uid the daemon sees for this client: ours.

func TestMapError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want protocol.Status
	}{
		{"protocol-error", protocol.Errorf(protocol.StatusBadRequest, "x"), protocol.StatusBadRequest},
		{"wrapped-agent-sentinel", errors.Join(errors.New("ctx"), ErrKeyNotFound), protocol.StatusKeyNotFound},
		{"tpm-untyped", tpmErr(errors.New("TPM_RC_FAILURE")), protocol.StatusTPMError},
		{"plain-error", errors.New("disk on fire"), protocol.StatusInternal},
		{"panic", errPanic, protocol.StatusInternal},
		{"wrong-pin", tpmErr(tpm.ErrAuthFail), protocol.StatusWrongPIN},
		{"lockout", tpmErr(tpm.ErrLockout), protocol.StatusLockedOut},
		{"pcrs-changed", tpmErr(tpm.ErrPolicyMismatch), protocol.StatusPolicyMismatch},
		{"tpm-changed", tpmErr(tpm.ErrTPMChanged), protocol.StatusTPMChanged},
		{"tpm-unavailable", tpmErr(tpm.ErrUnavailable), protocol.StatusTPMUnavailable},
		{"tpm-unsupported", tpmErr(tpm.ErrUnsupported), protocol.StatusUnsupportedAlgorithm},
		{"tpm-purpose", tpmErr(tpm.ErrPurpose), protocol.StatusIncompatiblePurpose},
		{"record-tampered", ErrKeyInvalidated, protocol.StatusKeyInvalidated},
		{"record-newer-format", errors.Join(errors.New("store.Get"), ErrUnsupportedRecord), protocol.StatusKeyInvalidated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := ErrorStatus(tc.err); got != tc.want {
				t.Errorf("ErrorStatus(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestStatusConnectionsOwnOnly: a non-admin's Status counts only its own

// connections; an admin's counts all.
