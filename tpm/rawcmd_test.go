package tpm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// cannedTransport records the last command and answers with rsp.
type cannedTransport struct {
	cmd []byte
	rsp []byte
}

func (c *cannedTransport) Send(cmd []byte) ([]byte, error) {
	c.cmd = append([]byte(nil), cmd...)
	return c.rsp, nil
}

// testName stands for a key's Name; a password session does not use it.
var testName = tpm2.TPM2BName{Buffer: append([]byte{0, 0xb}, make([]byte, 32)...)}

// failRsp is a TPM_RC_FAILURE response, enough to stop go-tpm after it sent.
var failRsp = []byte{0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x01, 0x01}

// TestSignCmdMatchesGoTPM: the hand-encoded TPM2_Sign is byte for byte
// what go-tpm sends for the same command with an empty password.
func TestSignCmdMatchesGoTPM(t *testing.T) {
	d32 := sha256.Sum256([]byte("x"))
	d48 := bytes.Repeat([]byte{0xa5}, 48)
	for _, tc := range []struct {
		name   string
		digest []byte
		scheme tpm2.TPMAlgID
		hash   tpm2.TPMIAlgHash
	}{
		{"ecdsa-sha256", d32[:], tpm2.TPMAlgECDSA, tpm2.TPMAlgSHA256},
		{"ecdsa-sha384", d48, tpm2.TPMAlgECDSA, tpm2.TPMAlgSHA384},
		{"rsassa-sha256", d32[:], tpm2.TPMAlgRSASSA, tpm2.TPMAlgSHA256},
		{"rsapss-sha256", d32[:], tpm2.TPMAlgRSAPSS, tpm2.TPMAlgSHA256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const key = tpm2.TPMHandle(0x80000002)
			ct := &cannedTransport{rsp: failRsp}
			_, _ = tpm2.Sign{
				KeyHandle: tpm2.AuthHandle{Handle: key, Name: testName, Auth: tpm2.PasswordAuth(nil)},
				Digest:    tpm2.TPM2BDigest{Buffer: tc.digest},
				InScheme: tpm2.TPMTSigScheme{Scheme: tc.scheme,
					Details: tpm2.NewTPMUSigScheme(tc.scheme, &tpm2.TPMSSchemeHash{HashAlg: tc.hash})},
				Validation: tpm2.TPMTTKHashCheck{Tag: tpm2.TPMSTHashCheck, Hierarchy: tpm2.TPMRHNull},
			}.Execute(ct)
			got := appendSignCmd(nil, tc.digest, tc.scheme, tc.hash)
			setSignKey(got, key)
			if !bytes.Equal(got, ct.cmd) {
				t.Errorf("appendSignCmd() = %x, want %x (go-tpm)", got, ct.cmd)
			}
		})
	}
}

// TestLoadCmdMatchesGoTPM: the hand-encoded TPM2_Load is what go-tpm sends.
func TestLoadCmdMatchesGoTPM(t *testing.T) {
	priv := tpm2.Marshal(tpm2.TPM2BPrivate{Buffer: bytes.Repeat([]byte{7}, 126)})
	pub := tpm2.Marshal(tpm2.New2B(tpm2.ECCSRKTemplate))
	const parent = tpm2.TPMHandle(0x81000001)
	ct := &cannedTransport{rsp: failRsp}
	_, _ = tpm2.Load{
		ParentHandle: tpm2.NamedHandle{Handle: parent, Name: tpm2.TPM2BName{Buffer: []byte{0, 0xb}}},
		InPrivate:    tpm2.TPM2BPrivate{Buffer: priv[2:]},
		InPublic:     tpm2.BytesAs2B[tpm2.TPMTPublic](pub[2:]),
	}.Execute(ct)
	got := appendLoadCmd(nil, parent, append(append([]byte(nil), priv...), pub...))
	if !bytes.Equal(got, ct.cmd) {
		t.Errorf("appendLoadCmd() = %x, want %x (go-tpm)", got, ct.cmd)
	}
}

// TestFlushCmdMatchesGoTPM: the hand-encoded TPM2_FlushContext is what
// go-tpm sends.
func TestFlushCmdMatchesGoTPM(t *testing.T) {
	for _, h := range []tpm2.TPMHandle{0x80000001, 0x02000000} {
		ct := &cannedTransport{rsp: failRsp}
		_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(ct)
		if got := flushCmd(h); !bytes.Equal(got, ct.cmd) {
			t.Errorf("flushCmd(%#x) = %x, want %x (go-tpm)", uint32(h), got, ct.cmd)
		}
	}
	if err := sendFlush(&cannedTransport{rsp: failRsp}, 0x80000001); !errors.Is(err, tpm2.TPMRCFailure) {
		t.Errorf("sendFlush(answered FAILURE) = %v, want TPM_RC_FAILURE", err)
	}
}

// signRsp builds a successful TPM2_Sign response around sig, as a TPM
// would send it with one password session.
func signRsp(sig tpm2.TPMTSignature) []byte {
	params := tpm2.Marshal(sig)
	b := binary.BigEndian.AppendUint16(nil, uint16(tpm2.TPMSTSessions))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(params)))
	b = append(b, params...)
	b = append(b, 0, 0, 1, 0, 0) // empty nonce, continueSession, empty HMAC
	binary.BigEndian.PutUint32(b[2:], uint32(len(b)))
	return b
}

// TestSignRspMatchesGoTPM: decoding a TPM2_Sign response by hand gives
// the signature go-tpm decodes from the same bytes.
func TestSignRspMatchesGoTPM(t *testing.T) {
	ecdsaSig := func(r, s []byte) tpm2.TPMTSignature {
		return tpm2.TPMTSignature{SigAlg: tpm2.TPMAlgECDSA, Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgECDSA,
			&tpm2.TPMSSignatureECC{Hash: tpm2.TPMAlgSHA256, SignatureR: tpm2.TPM2BECCParameter{Buffer: r}, SignatureS: tpm2.TPM2BECCParameter{Buffer: s}})}
	}
	rsaSig := func(alg tpm2.TPMAlgID) tpm2.TPMTSignature {
		return tpm2.TPMTSignature{SigAlg: alg, Signature: tpm2.NewTPMUSignature(alg,
			&tpm2.TPMSSignatureRSA{Hash: tpm2.TPMAlgSHA256, Sig: tpm2.TPM2BPublicKeyRSA{Buffer: bytes.Repeat([]byte{0x9c}, 256)}})}
	}
	for _, tc := range []struct {
		name string
		sig  tpm2.TPMTSignature
	}{
		{"ecdsa", ecdsaSig(bytes.Repeat([]byte{0x11}, 32), bytes.Repeat([]byte{0x22}, 32))},
		{"ecdsa-high-bit", ecdsaSig(bytes.Repeat([]byte{0x91}, 32), bytes.Repeat([]byte{0xf2}, 32))},
		{"ecdsa-leading-zeros", ecdsaSig(append([]byte{0, 0, 0x80}, bytes.Repeat([]byte{1}, 29)...), []byte{0, 5})},
		{"ecdsa-short", ecdsaSig([]byte{0x7f}, []byte{0x80})},
		{"ecdsa-p384", ecdsaSig(bytes.Repeat([]byte{0xee}, 48), bytes.Repeat([]byte{0x01}, 48))},
		{"rsassa", rsaSig(tpm2.TPMAlgRSASSA)},
		{"rsapss", rsaSig(tpm2.TPMAlgRSAPSS)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rsp := signRsp(tc.sig)
			ct := &cannedTransport{rsp: rsp}
			want, err := tpm2.Sign{KeyHandle: tpm2.AuthHandle{Handle: 0x80000001, Name: testName, Auth: tpm2.PasswordAuth(nil)}}.Execute(ct)
			if err != nil {
				t.Fatalf("go-tpm Sign.Execute = %v", err)
			}
			wantEnc, err := encodeSignature(&want.Signature)
			if err != nil {
				t.Fatal(err)
			}
			_, params, err := sendRaw(ct, nil, 0)
			if err != nil {
				t.Fatalf("sendRaw = %v", err)
			}
			sig, err := parseSignRsp(params)
			if err != nil {
				t.Fatalf("parseSignRsp = %v", err)
			}
			if got := encodeRawSignature(sig); !bytes.Equal(got, wantEnc) {
				t.Errorf("encodeRawSignature() = %x, want %x", got, wantEnc)
			}
		})
	}
}

// TestRawResponseErrors: TPM errors come back as go-tpm's TPMRC values, and
// malformed responses are refused, never indexed out of range.
func TestRawResponseErrors(t *testing.T) {
	good := signRsp(tpm2.TPMTSignature{SigAlg: tpm2.TPMAlgECDSA, Signature: tpm2.NewTPMUSignature(tpm2.TPMAlgECDSA,
		&tpm2.TPMSSignatureECC{Hash: tpm2.TPMAlgSHA256, SignatureR: tpm2.TPM2BECCParameter{Buffer: []byte{1}}, SignatureS: tpm2.TPM2BECCParameter{Buffer: []byte{2}}})})
	retry, _ := hex.DecodeString("80010000000a00000922")
	authFail, _ := hex.DecodeString("80010000000a0000098e")
	for _, tc := range []struct {
		name string
		rsp  []byte
		want error
	}{
		{"retry", retry, tpm2.TPMRCRetry},
		{"auth-fail", authFail, tpm2.TPMRCAuthFail},
		{"empty", nil, errMalformed},
		{"size-mismatch", good[:len(good)-1], errMalformed},
		{"no-sessions-tag", append([]byte{0x80, 0x01}, good[2:]...), errMalformed},
		{"param-size-too-big", func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint32(b[10:], 1000)
			return b
		}(), errMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, params, err := sendRaw(&cannedTransport{rsp: tc.rsp}, nil, 0)
			if err == nil {
				_, err = parseSignRsp(params)
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("sendRaw(%x) = %v, want %v", tc.rsp, err, tc.want)
			}
		})
	}
	// Cut anywhere before the session area (its last 5 bytes), with a
	// header that agrees, the response must still be refused.
	for n := 6; n < len(good)-5; n++ {
		cut := bytes.Clone(good[:n])
		binary.BigEndian.PutUint32(cut[2:], uint32(n))
		_, params, err := sendRaw(&cannedTransport{rsp: cut}, nil, 0)
		if err == nil {
			_, err = parseSignRsp(params)
		}
		if err == nil {
			t.Errorf("sendRaw+parseSignRsp(cut to %d bytes) = nil error, want one", n)
		}
	}
}

// retryingTransport answers the first n TPM2_Sign commands with
// TPM_RC_RETRY, as swtpm now and then does, and counts the Signs sent.
type retryingTransport struct {
	transport.TPMCloser
	n, signs int
}

func (r *retryingTransport) Send(cmd []byte) ([]byte, error) {
	if len(cmd) >= 10 && tpm2.TPMCC(binary.BigEndian.Uint32(cmd[6:10])) == tpm2.TPMCCSign {
		r.signs++
		if r.signs <= r.n {
			return hex.DecodeString("80010000000a00000922")
		}
	}
	return r.TPMCloser.Send(cmd)
}

// TestSignRetries: RETRY answers are retried (the backoff sleeps outside
// the TPM's turn) until the TPM signs.
func TestSignRetries(t *testing.T) {
	tt := openTest(t)
	keys := makeSignKeys(t, tt.TPM, 1)
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("retries-%d", n), func(t *testing.T) {
			var rt *retryingTransport
			tt.inTurn(t, func() {
				rt = &retryingTransport{TPMCloser: tt.wire.tpm, n: n}
				tt.wire.tpm = rt
			})
			err := keys[0].signAndVerify(tt.TPM, "retry")
			tt.inTurn(t, func() { tt.wire.tpm = rt.TPMCloser })
			if err != nil {
				t.Fatalf("Sign after %d RETRY = %v, want nil", n, err)
			}
			if rt.signs != n+1 {
				t.Errorf("TPM2_Sign sent %d times, want %d", rt.signs, n+1)
			}
		})
	}
}
