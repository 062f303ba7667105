package agent

import (
	"errors"
	"testing"
	"time"

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
	st := &settings{cfg: cfg}
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
func fakeRequest(t *testing.T, td *testDaemon, caller *Caller, op protocol.Op, req any) protocol.Status {
	t.Helper()
	sess, err := td.core().Connect(*caller)
	if err != nil {
		t.Fatalf("Connect(%+v) = %v", *caller, err)
	}
	defer sess.Close()
	call := &Call{Op: op, Req: req}
	res := sess.Do(t.Context(), call)
	call.Finish()
	return res.Status
}

// TestOtherUIDsKeys: a key of uid 0 does not exist for uid 4242, whatever
// it asks, and naming uid 0 is refused.
func TestOtherUIDsKeys(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v (%s)", st, msg)
	}
	owner := c.caller(t)
	other := &Caller{UID: owner + 4242, GID: 4242, Groups: []uint32{4242}}
	tests := []struct {
		name string
		op   protocol.Op
		req  any
		want protocol.Status
	}{
		{"get", protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "k"}, protocol.StatusKeyNotFound},
		{"sign", protocol.OpSign, &protocol.SignRequest{Alias: "k", Message: []byte("m"), Hash: "sha256"}, protocol.StatusKeyNotFound},
		{"verify", protocol.OpVerify, &protocol.VerifyRequest{Alias: "k", Message: []byte("m"), Hash: "sha256", Signature: []byte{1}}, protocol.StatusKeyNotFound},
		{"unseal", protocol.OpUnseal, &protocol.UnsealRequest{Alias: "k"}, protocol.StatusKeyNotFound},
		{"delete", protocol.OpDeleteKey, &protocol.DeleteKeyRequest{Alias: "k"}, protocol.StatusKeyNotFound},
		{"get-naming-owner", protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "k", UID: u32(owner)}, protocol.StatusPermissionDenied},
		{"list-naming-owner", protocol.OpListKeys, &protocol.ListKeysRequest{UID: u32(owner)}, protocol.StatusPermissionDenied},
		{"delete-naming-owner", protocol.OpDeleteKey, &protocol.DeleteKeyRequest{Alias: "k", UID: u32(owner)}, protocol.StatusPermissionDenied},
		{"list-own", protocol.OpListKeys, &protocol.ListKeysRequest{}, protocol.StatusOK},
		{"same-alias-is-free", protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}, protocol.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fakeRequest(t, td, other, tc.op, tc.req); got != tc.want {
				t.Errorf("%v(%+v) as uid %d = %v, want %v", tc.op, tc.req, other.UID, got, tc.want)
			}
		})
	}
	if st, _ := c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "k"}, nil); st != protocol.StatusOK {
		t.Errorf("owner's GetKey(k) afterwards = %v, want OK", st)
	}
	// The admin path: root (the test's uid, if root) lists the other uid.
	if owner == 0 {
		var l protocol.ListKeysResponse
		if st, _ := c.call(protocol.OpListKeys, &protocol.ListKeysRequest{UID: u32(other.UID)}, &l); st != protocol.StatusOK || len(l.Keys) != 1 {
			t.Errorf("root ListKeys(uid %d) = %v, %d keys; want OK, 1", other.UID, st, len(l.Keys))
		}
		if st, _ := c.call(protocol.OpDeleteKey, &protocol.DeleteKeyRequest{Alias: "k", UID: u32(other.UID)}, nil); st != protocol.StatusOK {
			t.Errorf("root DeleteKey(uid %d, k) = %v, want OK", other.UID, st)
		}
	}
}

// caller is the uid the daemon sees for this client: ours.
func (c *rawClient) caller(t *testing.T) uint32 {
	var k protocol.GetKeyResponse
	if st, msg := c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "k"}, &k); st != protocol.StatusOK {
		t.Fatalf("GetKey(k) = %v (%s)", st, msg)
	}
	return k.Key.OwnerUID
}

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
			if got, _ := mapError(tc.err); got != tc.want {
				t.Errorf("mapError(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestStatusConnectionsOwnOnly: a non-admin's Status counts only its own
// connections; an admin's counts all.
func TestStatusConnectionsOwnOnly(t *testing.T) {
	td := startDaemon(t, "")
	dialHello(t, td.socket) // root's
	dialHello(t, td.socket)
	for range 10 {
		if td.core().conns.count() == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct {
		name   string
		caller Caller
		want   uint64
	}{
		{"non-admin", Caller{UID: 4242, GID: 4242}, 1},
		{"root", Caller{UID: 0, GID: 0}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := td.core().Connect(tc.caller)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			res := sess.Do(t.Context(), &Call{Op: protocol.OpStatus, Req: &protocol.StatusRequest{}})
			st, _ := res.Resp.(*protocol.StatusResponse)
			if res.Status != protocol.StatusOK || st.Connections != tc.want {
				t.Errorf("Status as %s = %v, connections %d, want OK, %d", tc.name, res.Status, st.Connections, tc.want)
			}
		})
	}
}
