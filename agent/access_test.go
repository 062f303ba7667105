//go:build linux

package agent

import (
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

func fakeRequest(t *testing.T, td *testDaemon, caller *core.Caller, op protocol.Op, req any) protocol.Status {
	t.Helper()
	sess, err := td.core().Connect(*caller)
	if err != nil {
		t.Fatalf("Connect(%+v) = %v", *caller, err)
	}
	defer sess.Close()
	call := &core.Call{Op: op, Req: req}
	res := sess.Do(t.Context(), call)
	call.Finish()
	return res.Status
}

func TestOtherUIDsKeys(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "k", Algorithm: protocol.AlgECP256}, nil); st != protocol.StatusOK {
		t.Fatalf("GenerateKey = %v (%s)", st, msg)
	}
	owner := c.caller(t)
	other := &core.Caller{UID: owner + 4242, GID: 4242, Groups: []uint32{4242}}
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

func (c *rawClient) caller(t *testing.T) uint32 {
	var k protocol.GetKeyResponse
	if st, msg := c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "k"}, &k); st != protocol.StatusOK {
		t.Fatalf("GetKey(k) = %v (%s)", st, msg)
	}
	return k.Key.OwnerUID
}

func TestStatusConnectionsOwnOnly(t *testing.T) {
	td := startDaemon(t, "")
	dialHello(t, td.socket) // root's
	dialHello(t, td.socket)
	for range 10 {
		if td.core().Connections() == 2 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, tc := range []struct {
		name   string
		caller core.Caller
		want   uint64
	}{
		{"non-admin", core.Caller{UID: 4242, GID: 4242}, 1},
		{"root", core.Caller{UID: 0, GID: 0}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess, err := td.core().Connect(tc.caller)
			if err != nil {
				t.Fatal(err)
			}
			defer sess.Close()
			res := sess.Do(t.Context(), &core.Call{Op: protocol.OpStatus, Req: &protocol.StatusRequest{}})
			st, _ := res.Resp.(*protocol.StatusResponse)
			if res.Status != protocol.StatusOK || st.Connections != tc.want {
				t.Errorf("Status as %s = %v, connections %d, want OK, %d", tc.name, res.Status, st.Connections, tc.want)
			}
			if admin := tc.caller.UID == 0; res.Status == protocol.StatusOK && (st.TPMLockout != nil) != admin {
				t.Errorf("Status as %s: tpm_lockout = %+v, want it for admins only", tc.name, st.TPMLockout)
			} else if admin && st.TPMLockout.MaxTries != swtpmtest.ChipLockoutTries {
				t.Errorf("Status as root: tpm_lockout.max_tries = %d, want %d (set by the test)", st.TPMLockout.MaxTries, swtpmtest.ChipLockoutTries)
			}
		})
	}
}

func u32(v uint32) *uint32 { return &v }
