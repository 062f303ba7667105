package bench

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"strconv"
	"sync/atomic"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// Reference names the raw floor an agent case is compared with.
type Reference string

// The raw floors.
const (
	RawECCSign   Reference = "raw-ecc-sign"
	RawRSASign   Reference = "raw-rsa-sign"
	RawECCCreate Reference = "raw-ecc-create"
	RawHMAC      Reference = "raw-hmac"
)

// allRefs are the raw floors, in report order.
var allRefs = []Reference{RawECCSign, RawRSASign, RawECCCreate, RawHMAC}

// rrKeys is the number of distinct keys of the round-robin case: far more
// than the TPM's 3 object slots.
const rrKeys = 64

// agentCase is one measured case through tpmkeyd.
type agentCase struct {
	name    string
	desc    string
	ref     Reference
	workers int
	target  float64 // minimum agent/raw throughput; 0: none
	op      op
}

// agentEnv holds the clients and keys the cases use.
type agentEnv struct {
	shared *client.Client   // one connection, shared by all workers
	conns  []*client.Client // one connection per worker
	rr     []string         // rrKeys distinct ECC keys
	digest []byte
	gen    atomic.Int64 // keygen alias sequence
	aead   *aeadEnv     // the AEAD cases' key, data and floors
	ssh    []*sshConn   // ssh-agent connections (sshcases.go)
	sshPub ssh.PublicKey
	p11    *p11Env // the PKCS#11 cases' program; nil without p11-kit or cgo
}

// The hot ECC key and the RSA key are the raw floor's keys, imported into
// the agent's store before the daemon starts (importRawKeys).
const (
	hotAlias = "bench-hot"
	rsaAlias = "bench-rsa"
	macAlias = "bench-mac"
)

// setupAgent dials the clients, checks that the floor's keys are there, and
// generates the round-robin keys. These are the agent's own: the
// round-robin case is compared with the floor's hot key, not with them.
func setupAgent(ctx context.Context, socket string, conns int) (*agentEnv, error) {
	d := sha256.Sum256([]byte("tpmkey-bench"))
	e := &agentEnv{digest: d[:]}
	var err error
	if e.shared, err = dial(ctx, socket); err != nil {
		return nil, err
	}
	for range conns {
		c, err := dial(ctx, socket)
		if err != nil {
			e.close()
			return nil, err
		}
		e.conns = append(e.conns, c)
	}
	for _, alias := range []string{hotAlias, rsaAlias} {
		if _, err := e.shared.Key(ctx, alias); err != nil {
			e.close()
			return nil, fmt.Errorf("Key %s (imported from the floor): %w", alias, err)
		}
	}
	for i := range rrKeys {
		alias := "bench-rr-" + strconv.Itoa(i)
		if _, err := e.shared.GenerateKey(ctx, alias, client.AlgECP256); err != nil {
			e.close()
			return nil, fmt.Errorf("GenerateKey %s: %w", alias, err)
		}
		e.rr = append(e.rr, alias)
	}
	if err := e.setupAEAD(ctx); err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func dial(ctx context.Context, socket string) (*client.Client, error) {
	c, err := client.Dial(ctx, socket, client.WithTrustSameUser(), client.WithClientName("tpmkey-bench"))
	if err != nil {
		return nil, fmt.Errorf("client.Dial: %w", err)
	}
	return c, nil
}

func (e *agentEnv) close() {
	if e.shared != nil {
		e.shared.Close()
	}
	for _, c := range e.conns {
		c.Close()
	}
	e.aead.close()
	e.closeSSH()
	if e.p11 != nil {
		e.p11.close()
	}
}

// cases lists the agent cases in the order they run in each round.
func (e *agentEnv) cases() []agentCase {
	hot := func(c *client.Client) error {
		_, err := c.Sign(context.Background(), hotAlias, crypto.SHA256, e.digest)
		return err
	}
	sharedHot := func(context.Context, int, int) error { return hot(e.shared) }
	mac := func(ctx context.Context, _, _ int) error {
		_, _, err := e.shared.MAC(ctx, macAlias, e.digest)
		return err
	}
	var p11 []agentCase
	if e.p11 != nil {
		p11 = e.p11.cases()
	}
	return append([]agentCase{
		{"hot-1-client", "ECDSA P-256, 1 key, 1 client, serial", RawECCSign, 1, 0.90, sharedHot},
		{"hot-8-goroutines", "ECDSA P-256, 1 key, 8 goroutines on one client", RawECCSign, 8, 0, sharedHot},
		{"hot-64-goroutines", "ECDSA P-256, 1 key, 64 goroutines on one client", RawECCSign, 64, 0.90, sharedHot},
		{"hot-64-connections", "ECDSA P-256, 1 key, 64 goroutines, a connection each", RawECCSign, len(e.conns),
			0, func(_ context.Context, w, _ int) error { return hot(e.conns[w]) }},
		{"round-robin-64-keys", "ECDSA P-256, 64 keys round-robin, 64 goroutines on one client", RawECCSign, rrKeys,
			0.60, func(ctx context.Context, w, n int) error {
				_, err := e.shared.Sign(ctx, e.rr[(w+n)%len(e.rr)], crypto.SHA256, e.digest)
				return err
			}},
		{"rsa-2048-pss", "RSA-2048 PSS, 1 key, 1 client, serial", RawRSASign, 1, 0.95,
			func(ctx context.Context, _, _ int) error {
				_, err := e.shared.Sign(ctx, rsaAlias, crypto.SHA256, e.digest, client.WithPSS())
				return err
			}},
		{"mac-32-bytes", "HMAC-SHA256 of 32 bytes in the TPM (MAC), 1 key, 1 client, serial", RawHMAC, 1, 0.90, mac},
		{"mac-8-goroutines", "HMAC-SHA256 of 32 bytes in the TPM (MAC), 1 key, 8 goroutines on one client", RawHMAC, 8, 0, mac},
		{"verify-mac-32-bytes", "VerifyMAC of a 32-byte message's tag in the TPM (TPM2_HMAC + compare), 1 key, 1 client, serial", RawHMAC, 1, 0, e.verifyMAC()},
		{"ecc-keygen", "ECC P-256 GenerateKey (TPM2_Create + stored record), 1 client", RawECCCreate, 1, 0,
			func(ctx context.Context, _, _ int) error {
				alias := "bench-gen-" + strconv.FormatInt(e.gen.Add(1), 10)
				_, err := e.shared.GenerateKey(ctx, alias, client.AlgECP256)
				return err
			}},
	}, append(append(e.aeadCases(), e.sshCases()...), p11...)...)
}
