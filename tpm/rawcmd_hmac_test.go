package tpm

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// TestHMACCmdMatchesGoTPM: the hand-encoded TPM2_HMAC is byte for byte
// what go-tpm sends for the same command with an empty password.
func TestHMACCmdMatchesGoTPM(t *testing.T) {
	for _, n := range []int{0, 1, 32, 1023, 1024} {
		t.Run(fmt.Sprintf("data-%d", n), func(t *testing.T) {
			const key = tpm2.TPMHandle(0x80000003)
			data := bytes.Repeat([]byte{0x5a}, n)
			ct := &cannedTransport{rsp: failRsp}
			_, _ = tpm2.Hmac{
				Handle:  tpm2.AuthHandle{Handle: key, Name: testName, Auth: tpm2.PasswordAuth(nil)},
				Buffer:  tpm2.TPM2BMaxBuffer{Buffer: data},
				HashAlg: tpm2.TPMAlgSHA256,
			}.Execute(ct)
			got := appendHMACCmd(nil, data)
			setHMACKey(got, key)
			if !bytes.Equal(got, ct.cmd) {
				t.Errorf("appendHMACCmd(%d bytes) = %x, want %x (go-tpm)", n, got, ct.cmd)
			}
			if len(got) != hmacCmdSize(n) {
				t.Errorf("hmacCmdSize(%d) = %d, want %d", n, hmacCmdSize(n), len(got))
			}
		})
	}
}

// hmacRsp builds a successful TPM2_HMAC response carrying tag, as a TPM
// would send it with one password session.
func hmacRsp(tag []byte) []byte {
	params := tpm2.Marshal(tpm2.TPM2BDigest{Buffer: tag})
	b := binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMSTSessions))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(params)))
	b = append(b, params...)
	b = append(b, 0, 0, 1, 0, 0) // empty nonce, continueSession, empty HMAC
	binary.BigEndian.PutUint32(b[2:], uint32(len(b)))
	return b
}

// TestHMACRspMatchesGoTPM: decoding a TPM2_HMAC response by hand gives
// the tag go-tpm decodes from the same bytes, in a buffer of its own.
func TestHMACRspMatchesGoTPM(t *testing.T) {
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("data"))
	for _, tc := range []struct {
		name string
		tag  []byte
	}{
		{"real-tag", m.Sum(nil)},
		{"zeros", make([]byte, 32)},
		{"ones", bytes.Repeat([]byte{0xff}, 32)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rsp := hmacRsp(tc.tag)
			ct := &cannedTransport{rsp: rsp}
			want, err := tpm2.Hmac{Handle: tpm2.AuthHandle{Handle: 0x80000001, Name: testName, Auth: tpm2.PasswordAuth(nil)}}.Execute(ct)
			if err != nil {
				t.Fatalf("go-tpm Hmac.Execute = %v", err)
			}
			_, params, err := sendRaw(ct, nil, 0)
			if err != nil {
				t.Fatalf("sendRaw = %v", err)
			}
			got, err := parseHMACRsp(params)
			if err != nil || !bytes.Equal(got, want.OutHMAC.Buffer) {
				t.Fatalf("parseHMACRsp() = %x, %v, want %x (go-tpm)", got, err, want.OutHMAC.Buffer)
			}
			if within(rsp, got) {
				t.Errorf("parseHMACRsp() returned a slice of the response buffer, want a copy")
			}
		})
	}
}

// TestHMACRspMalformed: a TPM2_HMAC answer that is not exactly one
// SHA-256 digest is refused; TPM errors come back as go-tpm's TPMRC values.
func TestHMACRspMalformed(t *testing.T) {
	good := hmacRsp(make([]byte, 32))
	for _, tc := range []struct {
		name string
		rsp  []byte
		want error
	}{
		{"short-tag", hmacRsp(make([]byte, 31)), errMalformed},
		{"long-tag", hmacRsp(make([]byte, 48)), errMalformed},
		{"empty-tag", hmacRsp(nil), errMalformed},
		{"trailing-byte", func() []byte {
			params := append(tpm2.Marshal(tpm2.TPM2BDigest{Buffer: make([]byte, 32)}), 0)
			b := bytes.Clone(good[:10])
			b = binary.BigEndian.AppendUint32(b, uint32(len(params)))
			b = append(append(b, params...), 0, 0, 1, 0, 0)
			binary.BigEndian.PutUint32(b[2:], uint32(len(b)))
			return b
		}(), errMalformed},
		{"handle-error", rcResponse(tpm2.TPMRC(0x18b)), tpm2.TPMRCHandle},
		{"retry", rcResponse(tpm2.TPMRCRetry), tpm2.TPMRCRetry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, params, err := sendRaw(&cannedTransport{rsp: tc.rsp}, nil, 0)
			if err == nil {
				_, err = parseHMACRsp(params)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("sendRaw+parseHMACRsp(%x) = %v, want %v", tc.rsp, err, tc.want)
			}
		})
	}
	for n := 6; n < len(good)-5; n++ {
		cut := bytes.Clone(good[:n])
		binary.BigEndian.PutUint32(cut[2:], uint32(n))
		_, params, err := sendRaw(&cannedTransport{rsp: cut}, nil, 0)
		if err == nil {
			_, err = parseHMACRsp(params)
		}
		if err == nil {
			t.Errorf("sendRaw+parseHMACRsp(cut to %d bytes) = nil error, want one", n)
		}
	}
}

// TestHotMACIsOneHMAC: once the key is loaded, a MAC of a key without PIN
// and a MAC of a PIN key (through the kept salted session) each send
// exactly one TPM2_HMAC, and nothing else.
func TestHotMACIsOneHMAC(t *testing.T) {
	tt := openTest(t)
	key := randomBytes(t, 32)
	pin := []byte("1234")
	for _, tc := range []struct {
		name string
		b    *Blob
		a    Auth
	}{
		{"no-pin", knownHMACKey(t, tt.TPM, key, nil), Auth{}},
		{"pin", knownHMACKey(t, tt.TPM, key, pin), Auth{PIN: pin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte("thirty-two bytes of data to MAC!")
			if _, err := tt.HMAC(ctx(), tc.b, tc.a, data); err != nil {
				t.Fatalf("HMAC(warm) = %v", err)
			}
			const n = 5
			ccs := tt.countCommands(t, func() {
				for range n {
					got, err := tt.HMAC(ctx(), tc.b, tc.a, data)
					if want := goHMAC(key, data); err != nil || !bytes.Equal(got, want) {
						t.Fatalf("HMAC() = %x, %v, want %x", got, err, want)
					}
				}
			})
			if len(ccs) != n || bytes.Count(ccBytes(ccs), ccBytes([]tpm2.TPMCC{tpm2.TPMCCHMAC})) != n {
				t.Errorf("%d hot MACs sent %v, want exactly %d×TPM2_HMAC", n, ccs, n)
			}
		})
	}
}

func ccBytes(ccs []tpm2.TPMCC) []byte {
	var b []byte
	for _, cc := range ccs {
		b = binary.BigEndian.AppendUint32(b, uint32(cc))
	}
	return b
}

// BenchmarkHMAC measures one MAC of 32 bytes through this package on
// swtpm (the key loaded): the hand-encoded path, the PIN path through the
// salted session, go-tpm's encoding of the same command on the same key
// for comparison, and DeriveKey (encrypted result) without PIN (go-tpm,
// two sessions) and with a PIN (hand-encoded). Not asserted.
func BenchmarkHMAC(b *testing.B) {
	tt := openTest(b)
	pin := []byte("1234")
	plain, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC})
	if err != nil {
		b.Fatal(err)
	}
	withPIN, _, err := tt.CreateKey(ctx(), KeySpec{Algorithm: HMACSHA256, Purposes: PurposeMAC, PIN: pin})
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 32)
	for _, tc := range []struct {
		name string
		f    func() error
	}{
		{"raw-no-pin", func() error { _, err := tt.HMAC(ctx(), plain, Auth{}, data); return err }},
		{"go-tpm-no-pin", func() error {
			p, err := tt.use(plain, Auth{}, PurposeMAC)
			if err != nil {
				return err
			}
			return tt.withKey(ctx(), "tpm2.HMAC", p, Auth{}, false, false, func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error {
				_, err := tpm2.Hmac{Handle: ah, Buffer: tpm2.TPM2BMaxBuffer{Buffer: data}, HashAlg: tpm2.TPMAlgSHA256}.Execute(tr, extra...)
				return err
			})
		}},
		{"pin-salted-session", func() error { _, err := tt.HMAC(ctx(), withPIN, Auth{PIN: pin}, data); return err }},
		{"derive-key", func() error { _, err := tt.DeriveKey(ctx(), plain, Auth{}, []byte("label")); return err }},
		{"derive-key-pin", func() error { _, err := tt.DeriveKey(ctx(), withPIN, Auth{PIN: pin}, []byte("label")); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := processCPU(b)
			for b.Loop() {
				if err := tc.f(); err != nil {
					b.Fatal(err)
				}
			}
			// This process's CPU (swtpm's is not in it): steadier than the
			// wall time on a shared machine.
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// processCPU is this process's user+system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
