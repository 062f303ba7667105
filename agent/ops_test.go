//go:build linux

package agent

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// opCase is one request and its expected status; check, when set, looks
// at the decoded response.
type opCase struct {
	name  string
	op    protocol.Op
	req   any
	resp  any
	want  protocol.Status
	check func(t *testing.T, resp any)
}

func runOpCases(t *testing.T, c *rawClient, cases []opCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.resp == nil {
				tc.resp = protocol.NewResponse(tc.op)
			}
			st, msg := c.call(tc.op, tc.req, tc.resp)
			if st != tc.want {
				t.Fatalf("%s(%+v) = %v (%s), want %v", tc.op, tc.req, st, msg, tc.want)
			}
			if st == protocol.StatusOK && tc.check != nil {
				tc.check(t, tc.resp)
			}
		})
	}
}

func parsePub(t *testing.T, der []byte) crypto.PublicKey {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatalf("ParsePKIXPublicKey: %v", err)
	}
	return pub
}

func TestDaemonOperations(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	keys := map[string]protocol.KeyInfo{}
	keep := func(t *testing.T, resp any) {
		k := resp.(*protocol.GenerateKeyResponse).Key
		if len(k.KeyID) != 16 || len(k.PublicKey) == 0 {
			t.Fatalf("GenerateKey key = %+v, want a 16-byte id and a public key", k)
		}
		keys[k.Alias] = k
	}
	runOpCases(t, c, []opCase{
		{name: "generate-ec-p256", op: protocol.OpGenerateKey, want: protocol.StatusOK, check: keep,
			req: &protocol.GenerateKeyRequest{Alias: "ec", Algorithm: protocol.AlgECP256, Purposes: []string{"agree", "sign"}}},
		{name: "generate-ec-p384", op: protocol.OpGenerateKey, want: protocol.StatusOK, check: keep,
			req: &protocol.GenerateKeyRequest{Alias: "ec384", Algorithm: protocol.AlgECP384}},
		{name: "generate-rsa-2048", op: protocol.OpGenerateKey, want: protocol.StatusOK, check: keep,
			req: &protocol.GenerateKeyRequest{Alias: "rsa", Algorithm: protocol.AlgRSA2048, Purposes: []string{"sign", "decrypt"}}},
		{name: "generate-existing", op: protocol.OpGenerateKey, want: protocol.StatusKeyExists,
			req: &protocol.GenerateKeyRequest{Alias: "ec", Algorithm: protocol.AlgECP256}},
		{name: "generate-invalid-alias", op: protocol.OpGenerateKey, want: protocol.StatusInvalidAlias,
			req: &protocol.GenerateKeyRequest{Alias: "../x", Algorithm: protocol.AlgECP256}},
		{name: "generate-rsa-agree", op: protocol.OpGenerateKey, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.GenerateKeyRequest{Alias: "r2", Algorithm: protocol.AlgRSA2048, Purposes: []string{"agree"}}},
		{name: "generate-unknown-algorithm", op: protocol.OpGenerateKey, want: protocol.StatusUnsupportedAlgorithm,
			req: &protocol.GenerateKeyRequest{Alias: "x", Algorithm: "dsa-1024"}},
		{name: "get-key", op: protocol.OpGetKey, want: protocol.StatusOK, req: &protocol.GetKeyRequest{Alias: "ec"},
			check: func(t *testing.T, resp any) {
				k := resp.(*protocol.GetKeyResponse).Key
				if !bytes.Equal(k.KeyID, keys["ec"].KeyID) || len(k.Purposes) != 2 || k.Purposes[0] != "sign" {
					t.Errorf("GetKey(ec) = %+v, want id %x purposes [sign agree]", k, keys["ec"].KeyID)
				}
			}},
		{name: "get-key-missing", op: protocol.OpGetKey, want: protocol.StatusKeyNotFound, req: &protocol.GetKeyRequest{Alias: "nope"}},
		{name: "list-keys", op: protocol.OpListKeys, want: protocol.StatusOK, req: &protocol.ListKeysRequest{},
			check: func(t *testing.T, resp any) {
				if l := resp.(*protocol.ListKeysResponse); len(l.Keys) != 3 || l.NextCursor != "" {
					t.Errorf("ListKeys = %d keys, cursor %q; want 3, none", len(l.Keys), l.NextCursor)
				}
			}},
		{name: "list-keys-paged", op: protocol.OpListKeys, want: protocol.StatusOK, req: &protocol.ListKeysRequest{Limit: 2},
			check: func(t *testing.T, resp any) {
				if l := resp.(*protocol.ListKeysResponse); len(l.Keys) != 2 || l.NextCursor == "" {
					t.Errorf("ListKeys(limit 2) = %d keys, cursor %q; want 2 and a cursor", len(l.Keys), l.NextCursor)
				}
			}},
	})
	runOpCases(t, c, signCases(t, keys))
	runOpCases(t, c, cryptCases(t, keys))
	runOpCases(t, c, sealAndMiscCases(t))
}

func signCases(t *testing.T, keys map[string]protocol.KeyInfo) []opCase {
	d256 := sha256.Sum256([]byte("hello"))
	msg := []byte("a message the agent hashes")
	d384 := sha512.Sum384(msg)
	verifyEC := func(alias string, digest []byte) func(*testing.T, any) {
		return func(t *testing.T, resp any) {
			pub := parsePub(t, keys[alias].PublicKey).(*ecdsa.PublicKey)
			if !ecdsa.VerifyASN1(pub, digest, resp.(*protocol.SignResponse).Signature) {
				t.Errorf("Sign(%s) signature does not verify", alias)
			}
		}
	}
	verifyRSA := func(pss bool) func(*testing.T, any) {
		return func(t *testing.T, resp any) {
			pub := parsePub(t, keys["rsa"].PublicKey).(*rsa.PublicKey)
			sig := resp.(*protocol.SignResponse).Signature
			var err error
			if pss {
				err = rsa.VerifyPSS(pub, crypto.SHA256, d256[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
			} else {
				err = rsa.VerifyPKCS1v15(pub, crypto.SHA256, d256[:], sig)
			}
			if err != nil {
				t.Errorf("Sign(rsa, pss=%v) signature: %v", pss, err)
			}
		}
	}
	return []opCase{
		{name: "sign-ec-digest", op: protocol.OpSign, want: protocol.StatusOK, check: verifyEC("ec", d256[:]),
			req: &protocol.SignRequest{Alias: "ec", Digest: d256[:], Hash: "sha256"}},
		{name: "sign-ec384-message", op: protocol.OpSign, want: protocol.StatusOK, check: verifyEC("ec384", d384[:]),
			req: &protocol.SignRequest{Alias: "ec384", Message: msg, Hash: "sha384"}},
		{name: "sign-rsa-pkcs1", op: protocol.OpSign, want: protocol.StatusOK, check: verifyRSA(false),
			req: &protocol.SignRequest{Alias: "rsa", Digest: d256[:], Hash: "sha256"}},
		{name: "sign-rsa-pss", op: protocol.OpSign, want: protocol.StatusOK, check: verifyRSA(true),
			req: &protocol.SignRequest{Alias: "rsa", Digest: d256[:], Hash: "sha256", PSS: true}},
		{name: "sign-short-digest", op: protocol.OpSign, want: protocol.StatusBadRequest,
			req: &protocol.SignRequest{Alias: "ec", Digest: d256[:20], Hash: "sha256"}},
		{name: "sign-ec-pss", op: protocol.OpSign, want: protocol.StatusBadRequest,
			req: &protocol.SignRequest{Alias: "ec", Digest: d256[:], Hash: "sha256", PSS: true}},
		{name: "sign-missing-key", op: protocol.OpSign, want: protocol.StatusKeyNotFound,
			req: &protocol.SignRequest{Alias: "nope", Digest: d256[:], Hash: "sha256"}},
		{name: "sign-message-then-verify", op: protocol.OpVerify, want: protocol.StatusOK,
			req: &protocol.VerifyRequest{Alias: "ec", Digest: d256[:], Hash: "sha256", Signature: []byte{0x30, 0}},
			check: func(t *testing.T, resp any) {
				if resp.(*protocol.VerifyResponse).Valid {
					t.Errorf("Verify(garbage signature) = valid, want invalid")
				}
			}},
	}
}

func cryptCases(t *testing.T, keys map[string]protocol.KeyInfo) []opCase {
	secret := []byte("attack at dawn")
	rsaPub := parsePub(t, keys["rsa"].PublicKey).(*rsa.PublicKey)
	oaep, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaPub, secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	peerDER, _ := x509.MarshalPKIXPublicKey(peer.PublicKey())
	p384, _ := ecdh.P384().GenerateKey(rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(p384.PublicKey())
	ownPub, err := parsePub(t, keys["ec"].PublicKey).(*ecdsa.PublicKey).ECDH()
	if err != nil {
		t.Fatal(err)
	}
	wantShared, _ := peer.ECDH(ownPub)
	corrupted := bytes.Clone(oaep)
	corrupted[len(corrupted)-1] ^= 1
	wantPlain := func(t *testing.T, resp any) {
		if got := resp.(*protocol.DecryptResponse).Plaintext; !bytes.Equal(got, secret) {
			t.Errorf("Decrypt = %q, want %q", got, secret)
		}
	}
	return []opCase{
		{name: "decrypt-oaep", op: protocol.OpDecrypt, want: protocol.StatusOK, check: wantPlain,
			req: &protocol.DecryptRequest{Alias: "rsa", Ciphertext: oaep}},
		{name: "decrypt-corrupted-ciphertext", op: protocol.OpDecrypt, want: protocol.StatusBadRequest,
			req: &protocol.DecryptRequest{Alias: "rsa", Ciphertext: corrupted}},
		{name: "decrypt-ec-key", op: protocol.OpDecrypt, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.DecryptRequest{Alias: "ec", Ciphertext: oaep}},
		{name: "encrypt-pkcs1", op: protocol.OpEncrypt, want: protocol.StatusOK,
			req: &protocol.EncryptRequest{Alias: "rsa", Plaintext: secret, Padding: "pkcs1v15"},
			check: func(t *testing.T, resp any) {
				if n := len(resp.(*protocol.EncryptResponse).Ciphertext); n != 256 {
					t.Errorf("Encrypt ciphertext = %d bytes, want 256", n)
				}
			}},
		{name: "ecdh", op: protocol.OpECDH, want: protocol.StatusOK,
			req: &protocol.ECDHRequest{Alias: "ec", PeerPublicKey: peerDER},
			check: func(t *testing.T, resp any) {
				if got := resp.(*protocol.ECDHResponse).SharedSecret; !bytes.Equal(got, wantShared) {
					t.Errorf("ECDH = %x, want %x", got, wantShared)
				}
			}},
		{name: "ecdh-wrong-curve", op: protocol.OpECDH, want: protocol.StatusBadRequest,
			req: &protocol.ECDHRequest{Alias: "ec", PeerPublicKey: p384DER}},
		{name: "ecdh-sign-only-key", op: protocol.OpECDH, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.ECDHRequest{Alias: "ec384", PeerPublicKey: p384DER}},
	}
}

func sealAndMiscCases(t *testing.T) []opCase {
	secret := []byte("s3cret")
	wantSecret := func(t *testing.T, resp any) {
		if got := resp.(*protocol.UnsealResponse).Secret; !bytes.Equal(got, secret) {
			t.Errorf("Unseal = %q, want %q", got, secret)
		}
	}
	return []opCase{
		{name: "seal", op: protocol.OpSeal, want: protocol.StatusOK, req: &protocol.SealRequest{Alias: "sealed", Secret: secret}},
		{name: "unseal", op: protocol.OpUnseal, want: protocol.StatusOK, check: wantSecret,
			req: &protocol.UnsealRequest{Alias: "sealed"}},
		{name: "seal-with-pin", op: protocol.OpSeal, want: protocol.StatusOK,
			req: &protocol.SealRequest{Alias: "pinned", Secret: secret, PIN: []byte("1234")}},
		{name: "unseal-wrong-pin", op: protocol.OpUnseal, want: protocol.StatusWrongPIN,
			req: &protocol.UnsealRequest{Alias: "pinned", PIN: []byte("0000")}},
		{name: "unseal-right-pin", op: protocol.OpUnseal, want: protocol.StatusOK, check: wantSecret,
			req: &protocol.UnsealRequest{Alias: "pinned", PIN: []byte("1234")}},
		{name: "sign-sealed", op: protocol.OpSign, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.SignRequest{Alias: "sealed", Message: []byte("x"), Hash: "sha256"}},
		{name: "unseal-a-key", op: protocol.OpUnseal, want: protocol.StatusIncompatiblePurpose,
			req: &protocol.UnsealRequest{Alias: "ec"}},
		{name: "seal-over-key", op: protocol.OpSeal, want: protocol.StatusKeyExists,
			req: &protocol.SealRequest{Alias: "ec", Secret: secret}},
		{name: "get-random", op: protocol.OpGetRandom, want: protocol.StatusOK, req: &protocol.GetRandomRequest{N: 48},
			check: func(t *testing.T, resp any) {
				if n := len(resp.(*protocol.GetRandomResponse).Bytes); n != 48 {
					t.Errorf("GetRandom(48) = %d bytes, want 48", n)
				}
			}},
		{name: "get-random-zero", op: protocol.OpGetRandom, want: protocol.StatusBadRequest, req: &protocol.GetRandomRequest{N: 0}},
		{name: "status", op: protocol.OpStatus, want: protocol.StatusOK, req: &protocol.StatusRequest{},
			check: func(t *testing.T, resp any) {
				s := resp.(*protocol.StatusResponse)
				if s.Keys != 5 || s.Connections != 1 || s.AgentVersion != "test" {
					t.Errorf("Status = %+v, want 5 keys, 1 connection, version test", s)
				}
			}},
		{name: "delete-key", op: protocol.OpDeleteKey, want: protocol.StatusOK, req: &protocol.DeleteKeyRequest{Alias: "ec384"}},
		{name: "get-deleted-key", op: protocol.OpGetKey, want: protocol.StatusKeyNotFound, req: &protocol.GetKeyRequest{Alias: "ec384"}},
		{name: "delete-missing-key", op: protocol.OpDeleteKey, want: protocol.StatusKeyNotFound, req: &protocol.DeleteKeyRequest{Alias: "ec384"}},
	}
}
