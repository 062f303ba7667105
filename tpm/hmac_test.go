package tpm

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"

	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// hmacSizes cover the one-shot TPM2_HMAC (up to swtpm's 1024-byte input
// buffer) and the sequence above it, with and without a partial last chunk.
var hmacSizes = []int{0, 1, 1024, 1025, 2048, 3000, MaxMACData}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func goHMAC(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}

// knownHMACKey loads into the TPM, with TPM2_Create, a keyedhash HMAC-SHA256
// object whose key bytes the test chose, so that the TPM's HMAC can be
// checked against crypto/hmac. The package refuses such a blob (its key is
// not TPM-generated), so the test registers the decoded blob in the parsed
// cache itself; the rest of HMAC's path is the real one.
func knownHMACKey(t *testing.T, tp *TPM, key, pin []byte) *Blob {
	t.Helper()
	tmpl := tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, UserWithAuth: true, NoDA: len(pin) == 0, SignEncrypt: true,
		},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
			Scheme: tpm2.TPMTKeyedHashScheme{
				Scheme:  tpm2.TPMAlgHMAC,
				Details: tpm2.NewTPMUSchemeKeyedHash(tpm2.TPMAlgHMAC, &tpm2.TPMSSchemeHMAC{HashAlg: tpm2.TPMAlgSHA256}),
			},
		}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{}),
	}
	var b *Blob
	err := tp.do(ctx(), "test", func(tr transport.TPM) error {
		rsp, err := tpm2.Create{
			ParentHandle: tp.srk.named(),
			InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
				UserAuth: tpm2.TPM2BAuth{Buffer: pin},
				Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: key}),
			}},
			InPublic: tpm2.New2B(tmpl),
		}.Execute(tr)
		if err != nil {
			return err
		}
		b = &Blob{Public: tpm2.Marshal(rsp.OutPublic), Private: tpm2.Marshal(rsp.OutPrivate), ParentName: slices.Clone(tp.srk.name.Buffer)}
		return nil
	})
	if err != nil {
		t.Fatalf("Create(keyedhash with known key) = %v", err)
	}
	if _, err := parseBlob(b); !errors.Is(err, ErrBadBlob) {
		t.Fatalf("parseBlob(caller-supplied HMAC key) = %v, want ErrBadBlob", err)
	}
	p, err := decodeBlob(b)
	if err != nil {
		t.Fatalf("decodeBlob() = %v", err)
	}
	p.alg, p.purposes, p.hasPIN = HMACSHA256, PurposeMAC, len(pin) > 0
	tp.parsed.put(p.id, p)
	return b
}

func TestHMACCreate(t *testing.T) {
	tt := openTest(t)
	if !tt.Supports(HMACSHA256) {
		t.Fatalf("Supports(hmac-sha256) = false on swtpm, want true")
	}
	if got := tt.Info().InputBuffer; got != 1024 {
		t.Errorf("Info().InputBuffer = %d, want 1024 (swtpm): the sizes in hmacSizes assume it", got)
	}
	b, pub, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC})
	if err != nil || pub != nil {
		t.Fatalf("CreateKey(hmac-sha256) = %v, %v, want a nil public key and nil", pub, err)
	}
	p, err := parseBlob(b)
	if err != nil {
		t.Fatalf("parseBlob() = %v", err)
	}
	want := tpm2.TPMAObject{FixedTPM: true, FixedParent: true, SensitiveDataOrigin: true, UserWithAuth: true, NoDA: true, SignEncrypt: true}
	if p.public.Type != tpm2.TPMAlgKeyedHash || p.public.ObjectAttributes != want || p.alg != HMACSHA256 || p.purposes != PurposeMAC {
		t.Errorf("HMAC key: type %v attributes %+v alg %v purposes %#x, want keyedhash %+v hmac-sha256 mac",
			p.public.Type, p.public.ObjectAttributes, p.alg, p.purposes, want)
	}
	if _, err := PublicKey(b); !errors.Is(err, ErrPurpose) {
		t.Errorf("PublicKey(hmac key) = %v, want ErrPurpose", err)
	}
	if _, err := tt.Seal(ctx(), []byte("x"), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Seal(hmac-sha256) = %v, want ErrInvalid", err)
	}
}

// TestHMACDeterministic: one key gives one tag for one message, on both
// paths; another key gives another.
func TestHMACDeterministic(t *testing.T) {
	tt := openTest(t)
	k1, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC})
	if err != nil {
		t.Fatal(err)
	}
	k2, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{32, 1025} {
		data := randomBytes(t, n)
		a, err := tt.HMAC(ctx(), k1, Auth{}, data)
		if err != nil || len(a) != sha256.Size {
			t.Fatalf("HMAC(k1, %d bytes) = %x, %v, want 32 bytes", n, a, err)
		}
		again, err := tt.HMAC(ctx(), k1, Auth{}, data)
		if err != nil || !bytes.Equal(again, a) {
			t.Errorf("HMAC(k1, %d bytes) again = %x, %v, want %x", n, again, err, a)
		}
		other, err := tt.HMAC(ctx(), k2, Auth{}, data)
		if err != nil || bytes.Equal(other, a) {
			t.Errorf("HMAC(k2, %d bytes) = %x, %v, want a tag other than k1's", n, other, err)
		}
	}
	if _, err := tt.HMAC(ctx(), k1, Auth{}, make([]byte, MaxMACData+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("HMAC(%d bytes) = %v, want ErrInvalid", MaxMACData+1, err)
	}
}

// TestHMACKnownKey checks the TPM's tag against crypto/hmac for a key
// whose bytes the test knows, with and without a PIN, on both paths.
func TestHMACKnownKey(t *testing.T) {
	tt := openTest(t)
	key := randomBytes(t, 32)
	for _, pin := range [][]byte{nil, []byte("mac-pin")} {
		b := knownHMACKey(t, tt.TPM, key, pin)
		for _, n := range hmacSizes {
			data := randomBytes(t, n)
			got, err := tt.HMAC(ctx(), b, Auth{PIN: pin}, data)
			if want := goHMAC(key, data); err != nil || !bytes.Equal(got, want) {
				t.Errorf("HMAC(pin=%v, %d bytes) = %x, %v, want %x", len(pin) > 0, n, got, err, want)
			}
		}
	}
}

// TestHMACPaths: up to the input buffer costs one TPM2_HMAC, above it one
// sequence with one SequenceUpdate per full chunk before the last.
func TestHMACPaths(t *testing.T) {
	tt, in := openFaulty(t)
	key := randomBytes(t, 32)
	b := knownHMACKey(t, tt.TPM, key, nil)
	tests := []struct {
		n                          int
		oneShot, start, upd, compl int
	}{
		{0, 1, 0, 0, 0},
		{1024, 1, 0, 0, 0},
		{1025, 0, 1, 1, 1},
		{2048, 0, 1, 1, 1},
		{2049, 0, 1, 2, 1},
		{MaxMACData, 0, 1, 63, 1},
	}
	for _, tc := range tests {
		in.resetCounts()
		data := randomBytes(t, tc.n)
		got, err := tt.HMAC(ctx(), b, Auth{}, data)
		if want := goHMAC(key, data); err != nil || !bytes.Equal(got, want) {
			t.Errorf("HMAC(%d bytes) = %x, %v, want %x", tc.n, got, err, want)
		}
		_, seen := in.counts()
		if seen[tpm2.TPMCCHMAC] != tc.oneShot || seen[tpm2.TPMCCHMACStart] != tc.start ||
			seen[tpm2.TPMCCSequenceUpdate] != tc.upd || seen[tpm2.TPMCCSequenceComplete] != tc.compl {
			t.Errorf("HMAC(%d bytes) sent HMAC×%d HMAC_Start×%d SequenceUpdate×%d SequenceComplete×%d, want %d %d %d %d",
				tc.n, seen[tpm2.TPMCCHMAC], seen[tpm2.TPMCCHMACStart], seen[tpm2.TPMCCSequenceUpdate], seen[tpm2.TPMCCSequenceComplete],
				tc.oneShot, tc.start, tc.upd, tc.compl)
		}
	}
}

// assertOnlyCachedLoaded fails if the TPM holds a transient object other
// than the cached keys and a transient SRK: a leaked sequence, say.
func assertOnlyCachedLoaded(t *testing.T, tt *testTPM) {
	t.Helper()
	tt.inTurn(t, func() {
		hs, err := listHandles(tt.wire, tpm2.TPMHTTransient)
		if err != nil {
			t.Fatalf("listHandles() = %v", err)
		}
		want := tt.cache.len()
		if !tt.srk.persistent {
			want++
		}
		if len(hs) != want {
			t.Errorf("transient handles %v, want %d (the cached keys and the SRK)", hs, want)
		}
	})
}

// TestHMACSequenceFailureFlushes: a sequence that fails midway is flushed,
// whether the failure ends the call or a retry redoes the whole sequence.
func TestHMACSequenceFailureFlushes(t *testing.T) {
	tt, in := openFaulty(t)
	key := randomBytes(t, 32)
	b := knownHMACKey(t, tt.TPM, key, nil)
	data := randomBytes(t, 3000)
	tests := []struct {
		name   string
		cc     tpm2.TPMCC
		rc     tpm2.TPMRC
		wantOK bool
	}{
		{"update-fails", tpm2.TPMCCSequenceUpdate, tpm2.TPMRCSize, false},
		{"complete-fails", tpm2.TPMCCSequenceComplete, tpm2.TPMRCSize, false},
		{"update-retried", tpm2.TPMCCSequenceUpdate, tpm2.TPMRCRetry, true},
		{"complete-retried", tpm2.TPMCCSequenceComplete, tpm2.TPMRCRetry, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.set(answerRC(tc.cc, tc.rc, 1))
			got, err := tt.HMAC(ctx(), b, Auth{}, data)
			in.set(nil)
			if tc.wantOK {
				if want := goHMAC(key, data); err != nil || !bytes.Equal(got, want) {
					t.Errorf("HMAC() after one %v = %x, %v, want %x", tc.rc, got, err, want)
				}
			} else if !errors.Is(err, tc.rc) {
				t.Errorf("HMAC() = %v, want it to wrap %v", err, tc.rc)
			}
			assertOnlyCachedLoaded(t, tt)
		})
	}
}

// TestHMACSequenceWithFullCache: a sequence takes an object slot of its
// own. With a transient SRK and every cache slot taken, HMAC_Start meets
// TPM_RC_OBJECT_MEMORY, a cached key is evicted and the call still succeeds.
func TestHMACSequenceWithFullCache(t *testing.T) {
	tt, in := openFaulty(t)
	// As in TestTransientSRK: 0x81000001 holds another key, so the SRK is
	// transient and takes a slot for as long as the TPM is open.
	tt.TPM.Close()
	tt.sw.Tool("tpm2_evictcontrol", "-C", "o", "-c", "0x81000001")
	ctxFile := filepath.Join(t.TempDir(), "rsa.ctx")
	tt.sw.Tool("tpm2_createprimary", "-C", "o", "-G", "rsa", "-c", ctxFile)
	tt.sw.Tool("tpm2_evictcontrol", "-C", "o", "-c", ctxFile, "0x81000001")
	op, err := ParseSpec(tt.sw.Spec(), tt.opts(t))
	if err != nil {
		t.Fatal(err)
	}
	if tt.TPM, err = Open(ctx(), in.wrap(op), tt.opts(t)); err != nil {
		t.Fatalf("Open() = %v", err)
	}
	if tt.srk.persistent {
		t.Fatalf("SRK persistent although 0x81000001 holds an RSA key")
	}
	slots := tt.Info().Slots
	key := randomBytes(t, 32)
	b := knownHMACKey(t, tt.TPM, key, nil)
	others := makeSignKeys(t, tt.TPM, slots)
	var mu sync.Mutex
	var objectMemory int
	in.set(func(cc tpm2.TPMCC, cmd []byte, next transport.TPM) ([]byte, error) {
		rsp, err := next.Send(cmd)
		if cc == tpm2.TPMCCHMACStart && len(rsp) >= cmdHeaderSize &&
			tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10])) == tpm2.TPMRCObjectMemory {
			mu.Lock()
			objectMemory++
			mu.Unlock()
		}
		return rsp, err
	})
	data := randomBytes(t, 1500)
	for round := 0; round < 2; round++ {
		if _, err := tt.HMAC(ctx(), b, Auth{}, data[:10]); err != nil {
			t.Fatalf("HMAC(one-shot) = %v", err)
		}
		for _, k := range others {
			if err := k.signAndVerify(tt.TPM, "fill"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := tt.HMAC(ctx(), b, Auth{}, data)
		if want := goHMAC(key, data); err != nil || !bytes.Equal(got, want) {
			t.Errorf("round %d: HMAC(sequence, cache full) = %x, %v, want %x", round, got, err, want)
		}
		assertOnlyCachedLoaded(t, tt)
	}
	mu.Lock()
	defer mu.Unlock()
	if objectMemory == 0 {
		t.Errorf("HMAC_Start never met TPM_RC_OBJECT_MEMORY: the test did not fill the TPM")
	}
}

// TestHMACWrongPIN spends two of swtpm's three tries (one per path), then
// resets the counter.
func TestHMACWrongPIN(t *testing.T) {
	tt := openTest(t)
	pin := []byte("right")
	b, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC, PIN: pin})
	if err != nil {
		t.Fatal(err)
	}
	defer resetLockout(t, tt)
	for _, n := range []int{16, 1500} {
		data := randomBytes(t, n)
		if _, err := tt.HMAC(ctx(), b, Auth{PIN: []byte("wrong")}, data); !errors.Is(err, ErrAuthFail) || !errors.Is(err, tpm2.TPMRCAuthFail) {
			t.Errorf("HMAC(wrong PIN, %d bytes) = %v, want ErrAuthFail wrapping TPM_RC_AUTH_FAIL", n, err)
		}
		if _, err := tt.HMAC(ctx(), b, Auth{}, data); !errors.Is(err, ErrAuthFail) {
			t.Errorf("HMAC(no PIN, %d bytes) = %v, want ErrAuthFail", n, err)
		}
		if _, err := tt.HMAC(ctx(), b, Auth{PIN: pin}, data); err != nil {
			t.Errorf("HMAC(right PIN, %d bytes) after failures = %v, want nil", n, err)
		}
	}
	if got, err := tt.DAState(ctx()); err != nil || got.Counter != 2 {
		t.Errorf("DAState().Counter = %d, %v, want 2 (the no-PIN calls cost nothing)", got.Counter, err)
	}
}

func TestHMACPCRPolicy(t *testing.T) {
	tt := openTest(t)
	pcrs := []int{16}
	b, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC, PCRs: pcrs})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{16, 1500} {
		if _, err := tt.HMAC(ctx(), b, Auth{PCRs: pcrs}, make([]byte, n)); err != nil {
			t.Errorf("HMAC(policy, %d bytes) = %v, want nil", n, err)
		}
	}
	extendPCR(t, tt, 16)
	for _, n := range []int{16, 1500} {
		if _, err := tt.HMAC(ctx(), b, Auth{PCRs: pcrs}, make([]byte, n)); !errors.Is(err, ErrPolicyMismatch) {
			t.Errorf("after PCR extend, HMAC(%d bytes) = %v, want ErrPolicyMismatch", n, err)
		}
	}
}

// TestHMACWrongPurpose: keys of other purposes are refused before the TPM
// hears of them, and an HMAC key serves nothing but HMAC.
func TestHMACWrongPurpose(t *testing.T) {
	tt, in := openFaulty(t)
	sign, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := tt.Seal(ctx(), []byte("x"), KeySpec{Algorithm: Sealed})
	if err != nil {
		t.Fatal(err)
	}
	mac, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC})
	if err != nil {
		t.Fatal(err)
	}
	d := digestOf(crypto.SHA256, "m")
	tests := []struct {
		name string
		op   func() error
	}{
		{"hmac-with-sign-key", func() error { _, err := tt.HMAC(ctx(), sign, Auth{}, []byte("m")); return err }},
		{"hmac-with-sealed", func() error { _, err := tt.HMAC(ctx(), sealed, Auth{}, []byte("m")); return err }},
		{"sign-with-hmac-key", func() error {
			_, err := tt.Sign(ctx(), mac, Auth{}, d, SignOptions{Hash: crypto.SHA256})
			return err
		}},
		{"unseal-hmac-key", func() error { _, err := tt.Unseal(ctx(), mac, Auth{}); return err }},
		{"decrypt-with-hmac-key", func() error { _, err := tt.Decrypt(ctx(), mac, Auth{}, make([]byte, 256), OAEPSHA256); return err }},
		{"create-hmac-sign", func() error {
			_, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeSign})
			return err
		}},
		{"create-hmac-no-purpose", func() error { _, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256}); return err }},
		{"create-hmac-mac-and-sign", func() error {
			_, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC | PurposeSign})
			return err
		}},
		{"create-ec-mac", func() error {
			_, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeMAC})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in.resetCounts()
			if err := tc.op(); !errors.Is(err, ErrPurpose) {
				t.Errorf("%s = %v, want ErrPurpose", tc.name, err)
			}
			if _, seen := in.counts(); len(seen) != 0 {
				t.Errorf("%s sent %v to the TPM, want nothing", tc.name, seen)
			}
		})
	}
}

// TestHMACForget: Forget flushes a loaded HMAC key like any other.
func TestHMACForget(t *testing.T) {
	tt := openTest(t)
	b, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tt.HMAC(ctx(), b, Auth{}, []byte("m")); err != nil {
		t.Fatal(err)
	}
	tt.Forget(b)
	tt.inTurn(t, func() {
		if n := tt.cache.len(); n != 0 {
			t.Errorf("after Forget, cache holds %d keys, want 0", n)
		}
	})
	assertOnlyCachedLoaded(t, tt)
}

// TestDeriveKey: the derived key is HMAC(k, label), the same as HMAC's tag
// for that label, but it crosses the bus only encrypted; the control shows
// that the probe does see HMAC's clear tag.
func TestDeriveKey(t *testing.T) {
	sw := swtpmtest.Start(t)
	tap := sw.StartTap()
	tp, err := OpenSpec(ctx(), tap.Spec(), Options{StateDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(%q) = %v", tap.Spec(), err)
	}
	key := randomBytes(t, 32)
	label := []byte("tpmkeyd aes-256-gcm working key v1")
	want := goHMAC(key, label)
	for _, pin := range [][]byte{nil, []byte("derive-pin")} {
		b := knownHMACKey(t, tp, key, pin)
		got, err := tp.DeriveKey(ctx(), b, Auth{PIN: pin}, label)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("DeriveKey(pin=%v) = %x, %v, want %x", len(pin) > 0, got, err, want)
		}
	}
	if tap.Seen(want) {
		t.Errorf("a derived key crossed the TPM bus in the clear")
	}
	b := knownHMACKey(t, tp, key, nil)
	for _, n := range []int{0, MaxLabelSize + 1} {
		if _, err := tp.DeriveKey(ctx(), b, Auth{}, make([]byte, n)); !errors.Is(err, ErrInvalid) {
			t.Errorf("DeriveKey(label of %d bytes) = %v, want ErrInvalid", n, err)
		}
	}
	sign, _, err := tp.CreateKey(ctx(), KeySpec{Algorithm: ECCP256, Purposes: PurposeSign})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tp.DeriveKey(ctx(), sign, Auth{}, label); !errors.Is(err, ErrPurpose) {
		t.Errorf("DeriveKey(sign key) = %v, want ErrPurpose", err)
	}
	control := []byte("control label for a clear tag")
	tag, err := tp.HMAC(ctx(), b, Auth{}, control)
	if err != nil || !bytes.Equal(tag, goHMAC(key, control)) {
		t.Fatalf("HMAC(control) = %x, %v", tag, err)
	}
	if !tap.Seen(tag) {
		t.Errorf("HMAC's clear tag was not seen by the probe: the probe is blind")
	}
	if err := tp.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	sw.AssertNoTransients()
}
