package tpm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Hand-encoded TPM2_HMAC authorized by the kept salted session (session.go)
// with the key's PIN as its HMAC auth (TPM 2.0 Part 1 §19.6: cpHash, rpHash
// and the session HMAC): the MAC and DeriveKey path of a key with a PIN.
// The PIN never crosses the bus; it is only part of the HMAC key. For a MAC
// no parameter is encrypted: neither the data nor the tag is secret. For
// DeriveKey the session's encrypt attribute is set, so the result crosses
// AES-128-CFB-encrypted (Part 1 §21.3) and is decrypted here. The tests
// check the bytes against go-tpm's encoding of the same command through
// the same session.

// sessionAuthSize is the authorization area of one HMAC session after its
// size field: handle, a 2B nonce, attributes, a 2B SHA-256 HMAC.
const sessionAuthSize = 4 + 2 + nonceSize + 1 + 2 + sha256.Size

// TPMA_SESSION bits (Part 2 §8.4): continueSession, and encrypt (the TPM
// encrypts the first response parameter).
const (
	attrContinue = 0x01
	attrEncrypt  = 0x40
)

// hmacSessionCmdSize is the size of such a TPM2_HMAC over n bytes of data.
func hmacSessionCmdSize(n int) int { return cmdHeaderSize + 4 + 4 + sessionAuthSize + 2 + n + 2 }

// appendHMACSessionCmd encodes TPM2_HMAC of data with SHA-256 on the
// loaded key k, authorized by s with the auth value pin, with session
// attributes attrs (attrContinue, or with attrEncrypt for a secret result).
// It uses the session's nonces as they stand: the caller rolls nonceCaller
// first.
func appendHMACSessionCmd(b []byte, s *saltedSession, pin []byte, k *loadedKey, data []byte, attrs byte) []byte {
	b = appendCmdHeader(b, tpm2.TPMCCHMAC)
	b = binary.BigEndian.AppendUint32(b, uint32(k.handle))
	b = binary.BigEndian.AppendUint32(b, sessionAuthSize)
	auth := len(b)
	b = append(b, make([]byte, sessionAuthSize)...) // filled in below, over the parameters
	params := len(b)
	b = append2B(b, data)
	b = binary.BigEndian.AppendUint16(b, uint16(tpm2.TPMAlgSHA256))

	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(tpm2.TPMCCHMAC)))
	h.Write(k.name.Buffer)
	h.Write(b[params:])
	key := sessionHMACKey(s, pin)
	mac := sessionHMAC(key, h.Sum(nil), s.nonceCaller, s.nonceTPM, nil, attrs)
	clear(key) // it holds the PIN

	var area [sessionAuthSize]byte
	a := binary.BigEndian.AppendUint32(area[:0], uint32(s.handle))
	a = append2B(a, s.nonceCaller) // nonceSize bytes
	a = append(a, attrs)
	copy(b[auth:params], append2B(a, mac))
	return finishCmd(b)
}

// sessionHMACKey is the session's HMAC key for an entity whose auth value
// is pin: sessionKey || pin without trailing zeros (Part 1 §19.6.8).
func sessionHMACKey(s *saltedSession, pin []byte) []byte {
	return append(append(make([]byte, 0, len(s.sessionKey)+len(pin)), s.sessionKey...), trimAuth(pin)...)
}

// parseHMACSessionRsp checks a TPM2_HMAC response authorized by s with
// pin: it takes the TPM's new nonce into s (and forgets the session if the
// TPM ended it), checks the response HMAC, and returns a copy of the tag,
// decrypted when the command asked for encryption (encrypted). A TPM error
// comes back as a tpm2.TPMRC, as go-tpm does; the session's nonces are
// then unchanged, as the TPM leaves them.
func parseHMACSessionRsp(rsp []byte, s *saltedSession, pin []byte, encrypted bool) ([]byte, error) {
	tag, rest, err := splitRsp(rsp)
	if err != nil {
		return nil, err
	}
	if tag != tpm2.TPMSTSessions || len(rest) < 4 {
		return nil, fmt.Errorf("%w: TPM2_HMAC", errMalformed)
	}
	n := binary.BigEndian.Uint32(rest)
	if uint64(n) > uint64(len(rest)-4) {
		return nil, fmt.Errorf("%w: TPM2_HMAC parameter size %d", errMalformed, n)
	}
	params, rest := rest[4:4+n], rest[4+n:]
	nonce, rest, err := take2B(rest)
	if err != nil || len(rest) < 1 || len(nonce) == 0 {
		return nil, fmt.Errorf("%w: TPM2_HMAC session", errMalformed)
	}
	attrs := rest[0]
	got, rest, err := take2B(rest[1:])
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: TPM2_HMAC session", errMalformed)
	}
	s.nonceTPM = append([]byte(nil), nonce...)
	if attrs&attrContinue == 0 {
		s.handle = 0
	}
	h := sha256.New()
	h.Write(make([]byte, 4)) // TPM_RC_SUCCESS
	h.Write(binary.BigEndian.AppendUint32(nil, uint32(tpm2.TPMCCHMAC)))
	h.Write(params)
	key := sessionHMACKey(s, pin)
	defer clear(key) // it holds the PIN
	want := sessionHMAC(key, h.Sum(nil), s.nonceTPM, s.nonceCaller, nil, attrs)
	if !hmac.Equal(got, want) {
		return nil, fmt.Errorf("%w: TPM2_HMAC response HMAC mismatch", errMalformed)
	}
	out, err := parseHMACRsp(params)
	if err != nil || !encrypted {
		return out, err
	}
	if err := cfbDecrypt(key, s.nonceTPM, s.nonceCaller, out); err != nil {
		return nil, err
	}
	return out, nil
}

// cfbDecrypt decrypts p in place: the first response parameter's buffer,
// with the key and IV from KDFa(hmacKey, "CFB", nonceTPM, nonceCaller)
// (Part 1 §21.3), as the session's Decrypt does for go-tpm.
func cfbDecrypt(hmacKey, nonceTPM, nonceCaller, p []byte) error {
	keyIV := tpm2.KDFa(sessionCrypt, hmacKey, "CFB", nonceTPM, nonceCaller, (aesKeyBytes+cfbIVBytes)*8)
	block, err := aes.NewCipher(keyIV[:aesKeyBytes])
	if err != nil {
		return err
	}
	cipher.NewCFBDecrypter(block, keyIV[aesKeyBytes:]).XORKeyStream(p, p)
	clear(keyIV)
	return nil
}
