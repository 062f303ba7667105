package tpm

import (
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// countingTransport records the command code of every command sent.
type countingTransport struct {
	transport.TPMCloser
	ccs []tpm2.TPMCC
}

func (c *countingTransport) Send(cmd []byte) ([]byte, error) {
	if len(cmd) >= 10 {
		c.ccs = append(c.ccs, tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10])))
	}
	return c.TPMCloser.Send(cmd)
}

func (tt *testTPM) countCommands(t testing.TB, f func()) []tpm2.TPMCC {
	var ct *countingTransport
	tt.inTurn(t, func() {
		ct = &countingTransport{TPMCloser: tt.wire.tpm}
		tt.wire.tpm = ct
	})
	f()
	tt.inTurn(t, func() { tt.wire.tpm = ct.TPMCloser })
	return ct.ccs
}

// TestHotPathIsOneSign: a cached key without PIN signs with exactly one
// TPM2_Sign; a PIN key reuses the salted session (no StartAuthSession).
func TestHotPathIsOneSign(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 4) // keys[3] has a PIN
	for _, k := range []signKey{keys[0], keys[3]} {
		if err := k.signAndVerify(tt.TPM, "warm"); err != nil {
			t.Fatal(err)
		}
		ccs := tt.countCommands(t, func() {
			if err := k.signAndVerify(tt.TPM, "hot"); err != nil {
				t.Fatal(err)
			}
		})
		if len(ccs) != 1 || ccs[0] != tpm2.TPMCCSign {
			t.Errorf("hot Sign (PIN=%v) sent %v, want exactly [TPM2_Sign]", len(k.auth.PIN) > 0, ccs)
		}
	}
}

func BenchmarkSignP256(b *testing.B) {
	d := sha256.Sum256([]byte("bench"))
	b.Run("tpmkeyd", func(b *testing.B) {
		tt := openTest(b)
		blob, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := tt.Sign(ctx(), blob, Auth{}, d[:], SignOptions{Hash: crypto.SHA256}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-go-tpm", func(b *testing.B) {
		tt := openTest(b)
		blob, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
		if err != nil {
			b.Fatal(err)
		}
		p, _ := parseBlob(blob)
		if err := tt.sched.acquire(ctx(), ownerKey{}, false); err != nil {
			b.Fatal(err)
		}
		defer tt.sched.release()
		tr := tt.wire.tpm
		rsp, err := tpm2.Load{ParentHandle: tt.srk.named(), InPrivate: p.private, InPublic: p.public2B}.Execute(tr)
		if err != nil {
			b.Fatal(err)
		}
		defer tpm2.FlushContext{FlushHandle: rsp.ObjectHandle}.Execute(tr)
		key := tpm2.NamedHandle{Handle: rsp.ObjectHandle, Name: rsp.Name}
		scheme := tpm2.TPMTSigScheme{Scheme: tpm2.TPMAlgECDSA,
			Details: tpm2.NewTPMUSigScheme(tpm2.TPMAlgECDSA, &tpm2.TPMSSchemeHash{HashAlg: tpm2.TPMAlgSHA256})}
		for b.Loop() {
			_, err := tpm2.Sign{KeyHandle: key, Digest: tpm2.TPM2BDigest{Buffer: d[:]}, InScheme: scheme,
				Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull}}.Execute(tr)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCommands measures each operation through this package on
// swtpm, for the closing note (not asserted).
func BenchmarkCommands(b *testing.B) {
	tt := openTest(b)
	for _, tc := range []struct {
		name string
		spec KeySpec
	}{
		{"create-ec-p256", KeySpec{Algorithm: ECCP256, Purposes: PurposeSign}},
		{"create-ec-p384", KeySpec{Algorithm: ECCP384, Purposes: PurposeSign}},
		{"create-rsa-2048", KeySpec{Algorithm: RSA2048, Purposes: PurposeSign}},
		{"create-rsa-3072", KeySpec{Algorithm: RSA3072, Purposes: PurposeSign}},
		{"create-ec-p256-pin", KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PIN: []byte("1234")}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := tt.CreateKey(ctx(), tc.spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("seal-128", func(b *testing.B) {
		for b.Loop() {
			if _, err := tt.Seal(ctx(), make([]byte, 128), KeySpec{Algorithm: Sealed}); err != nil {
				b.Fatal(err)
			}
		}
	})
	mk := func(spec KeySpec) (*Blob, crypto.PublicKey) {
		blob, pub, err := tt.CreateKey(ctx(), spec)
		if err != nil {
			b.Fatal(err)
		}
		return blob, pub
	}
	p256, _ := mk(KeySpec{Algorithm: ECCP256, Purposes: PurposeSign | PurposeAgree})
	p256pin, _ := mk(KeySpec{Algorithm: ECCP256, Purposes: PurposeSign, PIN: []byte("1234")})
	p384, _ := mk(KeySpec{Algorithm: ECCP384, Purposes: PurposeSign})
	r2048, r2048pub := mk(KeySpec{Algorithm: RSA2048, Purposes: PurposeSign | PurposeDecrypt})
	r3072, r3072pub := mk(KeySpec{Algorithm: RSA3072, Purposes: PurposeSign | PurposeDecrypt})
	sealed, err := tt.Seal(ctx(), []byte("secret"), KeySpec{Algorithm: Sealed})
	if err != nil {
		b.Fatal(err)
	}
	sealedPIN, err := tt.Seal(ctx(), []byte("secret"), KeySpec{Algorithm: Sealed, PIN: []byte("1234")})
	if err != nil {
		b.Fatal(err)
	}
	tt.inTurn(b, func() {
		tt.cache = newKeyCache(10) // keep them all loaded; TPM evicts via OBJECT_MEMORY retry otherwise
	})
	d256 := digestOf(crypto.SHA256, "m")
	signBench := func(name string, blob *Blob, a Auth, pss bool) {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tt.Sign(ctx(), blob, a, d256, SignOptions{Hash: crypto.SHA256, PSS: pss}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	signBench("sign-ec-p256", p256, Auth{}, false)
	signBench("sign-ec-p256-pin", p256pin, Auth{PIN: []byte("1234")}, false)
	signBench("sign-ec-p384", p384, Auth{}, false)
	signBench("sign-rsa-2048-pkcs1", r2048, Auth{}, false)
	signBench("sign-rsa-2048-pss", r2048, Auth{}, true)
	signBench("sign-rsa-3072-pkcs1", r3072, Auth{}, false)
	for _, tc := range []struct {
		name string
		blob *Blob
		pub  *rsa.PublicKey
	}{{"decrypt-rsa-2048-oaep", r2048, r2048pub.(*rsa.PublicKey)}, {"decrypt-rsa-3072-oaep", r3072, r3072pub.(*rsa.PublicKey)}} {
		ct, _ := rsa.EncryptOAEP(sha256.New(), rand.Reader, tc.pub, []byte("k"), nil)
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tt.Decrypt(ctx(), tc.blob, Auth{}, ct, OAEPSHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	peer, _ := ecdh.P256().GenerateKey(rand.Reader)
	b.Run("ecdh-p256", func(b *testing.B) {
		for b.Loop() {
			if _, err := tt.ECDH(ctx(), p256, Auth{}, peer.PublicKey()); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		name string
		blob *Blob
		a    Auth
	}{{"unseal", sealed, Auth{}}, {"unseal-pin", sealedPIN, Auth{PIN: []byte("1234")}}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := tt.Unseal(ctx(), tc.blob, tc.a); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	p, _ := parseBlob(p256)
	tt.Forget(p256)
	b.Run("load-and-flush", func(b *testing.B) {
		for b.Loop() {
			err := tt.do(ctx(), "bench", func(tr transport.TPM) error {
				_, err := tt.loadLocked(tr, p)
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			tt.Forget(p256)
		}
	})
	b.Run("salted-session-start-and-flush", func(b *testing.B) {
		for b.Loop() {
			err := tt.do(ctx(), "bench", func(tr transport.TPM) error {
				s, err := startSaltedSession(tr, tt.srk.named(), &tt.srk.public)
				if err == nil {
					tt.flushLocked(s.handle)
				}
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("round-trip-getrandom", func(b *testing.B) {
		// The cost of any command on this transport, for comparison.
		for b.Loop() {
			if _, err := tt.Random(ctx(), 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkParseBlob is the per-call software overhead before the TPM turn
// (cached after the first parse).
func BenchmarkParseBlob(b *testing.B) {
	tt := openTest(b)
	blob, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			if _, err := parseBlob(blob); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := tt.use(blob, Auth{}, PurposeSign); err != nil {
				b.Fatal(err)
			}
		}
	})
}
