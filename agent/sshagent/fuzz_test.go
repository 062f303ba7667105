package sshagent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// fakeSession answers like a core with one marked EC key, "k".
type fakeSession struct {
	key *ecdsa.PrivateKey
	der []byte
}

func newFakeSession(tb testing.TB) *fakeSession {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return &fakeSession{key: k, der: der}
}

func (f *fakeSession) Do(_ context.Context, call *core.Call) core.Result {
	ok := func(resp any) core.Result { return core.Result{Status: protocol.StatusOK, Resp: resp} }
	switch r := call.Req.(type) {
	case *protocol.SSHListRequest:
		return ok(&protocol.SSHListResponse{Keys: []protocol.KeyInfo{{Alias: "k", KeyID: make([]byte, 16),
			Algorithm: protocol.AlgECP256, PublicKey: f.der, SSH: &protocol.SSHInfo{}}}})
	case *protocol.SSHSignRequest:
		d := sha256.Sum256(r.Data)
		sig, _ := ecdsa.SignASN1(rand.Reader, f.key, d[:])
		return ok(&protocol.SSHSignResponse{Signature: sig})
	case *protocol.SSHKeyRequest:
		return ok(&protocol.SSHKeyResponse{})
	case *protocol.SSHAgentRequest:
		if r.Action == protocol.SSHAgentUnlock {
			return core.Result{Status: protocol.StatusPermissionDenied, Message: "not locked"}
		}
		return ok(&protocol.SSHAgentResponse{})
	}
	return core.Result{Status: protocol.StatusUnknownOp, Message: "no"}
}

// rw is a connection that reads in and discards what is written.
type rw struct {
	io.Reader
	out bytes.Buffer
}

func (c *rw) Write(p []byte) (int, error) { return c.out.Write(p) }

// FuzzServeAgent feeds a byte stream to agent.ServeAgent over the front
// end's agent: whatever arrives, nothing panics, and every request gets an
// answer frame.
func FuzzServeAgent(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	sess := newFakeSession(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		a := &sshAgent{ctx: context.Background(), sess: sess, closeAsked: func() {}}
		c := &rw{Reader: bytes.NewReader(data)}
		agent.ServeAgent(a, c)
		// Every answer is a well-formed frame.
		out := c.out.Bytes()
		for len(out) > 0 {
			if len(out) < 4 {
				t.Fatalf("answer stream ends in %x", out)
			}
			n := binary.BigEndian.Uint32(out)
			if n == 0 || int(n) > len(out)-4 {
				t.Fatalf("answer frame of length %d in %d bytes", n, len(out)-4)
			}
			out = out[4+n:]
		}
	})
}

func frame(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}

// fuzzSeeds are well-formed requests and the malformed ones of the
// daemon's table, framed.
func fuzzSeeds() [][]byte {
	str := func(b []byte) []byte { return ssh.Marshal(struct{ S []byte }{b}) }
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pk, _ := ssh.NewPublicKey(&k.PublicKey)
	sign := append(append([]byte{13}, str(pk.Marshal())...), append(str([]byte("data")), 0, 0, 0, 0)...)
	return [][]byte{
		frame([]byte{11}),
		frame(sign),
		append(frame([]byte{11}), frame(sign)...),
		frame(append([]byte{18}, str(pk.Marshal())...)),
		frame([]byte{19}),
		frame(append([]byte{22}, str([]byte("pw"))...)),
		frame(append([]byte{23}, str([]byte("pw"))...)),
		frame(append(append([]byte{27}, str([]byte("session-bind@openssh.com"))...), 1, 2, 3)),
		frame(append([]byte{27}, str([]byte("query"))...)),
		frame([]byte{17, 0, 0, 0, 20, 'e'}),
		frame([]byte{25, 0, 0, 0, 3, 'x', 'y', 'z', 99}),
		frame([]byte{200}),
		{0, 0, 0, 0},
		{0xff, 0xff, 0xff, 0xff},
	}
}

// TestWriteFuzzSeeds keeps testdata/fuzz/FuzzServeAgent in step with
// fuzzSeeds (run with TPMKEYD_UPDATE_SEEDS=1 to rewrite).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("TPMKEYD_UPDATE_SEEDS") != "1" {
		t.Skip("set TPMKEYD_UPDATE_SEEDS=1 to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzServeAgent")
	os.MkdirAll(dir, 0o755)
	for i, s := range fuzzSeeds() {
		body := "go test fuzz v1\n[]byte(" + goQuote(s) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+string(rune('a'+i))), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func goQuote(b []byte) string {
	var sb bytes.Buffer
	sb.WriteByte('"')
	for _, c := range b {
		sb.WriteString(`\x`)
		sb.WriteString(hex2(c))
	}
	sb.WriteByte('"')
	return sb.String()
}

func hex2(c byte) string {
	const h = "0123456789abcdef"
	return string([]byte{h[c>>4], h[c&15]})
}
