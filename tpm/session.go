package tpm

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// saltedSession is the one long-lived HMAC session, salted to the pinned
// SRK and able to AES-128-CFB-encrypt parameters (TPM 2.0 Part 1, 19.6 and
// 21). go-tpm's own HMAC session fixes the auth value at creation; this one
// takes it per command, so a single session serves every PIN.
type saltedSession struct {
	handle      tpm2.TPMHandle
	sessionKey  []byte
	nonceCaller []byte
	nonceTPM    []byte
}

const (
	sessionHash  = tpm2.TPMAlgSHA256
	nonceSize    = 16
	aesKeyBytes  = 16
	cfbIVBytes   = 16
	sessionCrypt = crypto.SHA256
)

// startSaltedSession runs TPM2_StartAuthSession with a salt encrypted to
// the SRK's public area, so only that SRK can derive the session key.
func startSaltedSession(tr transport.TPM, srk tpm2.NamedHandle, srkPub *tpm2.TPMTPublic) (*saltedSession, error) {
	ek, err := tpm2.ImportEncapsulationKey(srkPub)
	if err != nil {
		return nil, fmt.Errorf("tpm2.ImportEncapsulationKey: %w", err)
	}
	salt, encSalt, err := tpm2.CreateEncryptedSalt(rand.Reader, ek)
	if err != nil {
		return nil, fmt.Errorf("tpm2.CreateEncryptedSalt: %w", err)
	}
	s := &saltedSession{nonceCaller: make([]byte, nonceSize)}
	if _, err := rand.Read(s.nonceCaller); err != nil {
		return nil, err
	}
	rsp, err := tpm2.StartAuthSession{
		TPMKey:        srk,
		Bind:          tpm2.TPMRHNull,
		NonceCaller:   tpm2.TPM2BNonce{Buffer: s.nonceCaller},
		EncryptedSalt: tpm2.TPM2BEncryptedSecret{Buffer: encSalt},
		SessionType:   tpm2.TPMSEHMAC,
		Symmetric: tpm2.TPMTSymDef{
			Algorithm: tpm2.TPMAlgAES,
			KeyBits:   tpm2.NewTPMUSymKeyBits(tpm2.TPMAlgAES, tpm2.TPMKeyBits(aesKeyBytes*8)),
			Mode:      tpm2.NewTPMUSymMode(tpm2.TPMAlgAES, tpm2.TPMAlgCFB),
		},
		AuthHash: sessionHash,
	}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("tpm2.StartAuthSession: %w", err)
	}
	s.handle = tpm2.TPMHandle(rsp.SessionHandle.HandleValue())
	s.nonceTPM = rsp.NonceTPM.Buffer
	s.sessionKey = tpm2.KDFa(sessionCrypt, salt, "ATH", s.nonceTPM, s.nonceCaller, sessionCrypt.Size()*8)
	return s, nil
}

// use returns a view of the session for one command: authorizing an entity
// whose auth value is auth (nil when the session only encrypts), with the
// given encrypt/decrypt attributes.
func (s *saltedSession) use(auth []byte, encryptOut, decryptIn bool) tpm2.Session {
	return &sessionUse{s: s, auth: trimAuth(auth), attrs: tpm2.TPMASession{
		ContinueSession: true, Encrypt: encryptOut, Decrypt: decryptIn,
	}}
}

// trimAuth drops trailing zero octets, as the TPM does with auth values.
func trimAuth(a []byte) []byte {
	for len(a) > 0 && a[len(a)-1] == 0 {
		a = a[:len(a)-1]
	}
	return a
}

type sessionUse struct {
	s     *saltedSession
	auth  []byte
	attrs tpm2.TPMASession
}

var _ tpm2.Session = (*sessionUse)(nil)

func (u *sessionUse) Init(transport.TPM) error {
	if u.s.handle == 0 {
		return errors.New("salted session not started")
	}
	return nil
}

// CleanupFailure keeps the session: a failed command leaves it valid.
func (u *sessionUse) CleanupFailure(transport.TPM) error { return nil }
func (u *sessionUse) NonceTPM() tpm2.TPM2BNonce          { return tpm2.TPM2BNonce{Buffer: u.s.nonceTPM} }
func (u *sessionUse) NewNonceCaller() error {
	_, err := rand.Read(u.s.nonceCaller)
	return err
}
func (u *sessionUse) IsEncryption() bool     { return u.attrs.Encrypt }
func (u *sessionUse) IsDecryption() bool     { return u.attrs.Decrypt }
func (u *sessionUse) Handle() tpm2.TPMHandle { return u.s.handle }
func (u *sessionUse) hmacKey() []byte        { return append(append([]byte{}, u.s.sessionKey...), u.auth...) }

func (u *sessionUse) Authorize(cc tpm2.TPMCC, parms, addNonces []byte, names []tpm2.TPM2BName, _ int) (*tpm2.TPMSAuthCommand, error) {
	h := sessionCrypt.New()
	binary.Write(h, binary.BigEndian, cc)
	for _, n := range names {
		h.Write(n.Buffer)
	}
	h.Write(parms)
	mac := sessionHMAC(u.hmacKey(), h.Sum(nil), u.s.nonceCaller, u.s.nonceTPM, addNonces, attrsByte(u.attrs))
	return &tpm2.TPMSAuthCommand{
		Handle:        u.s.handle,
		Nonce:         tpm2.TPM2BNonce{Buffer: u.s.nonceCaller},
		Attributes:    u.attrs,
		Authorization: tpm2.TPM2BData{Buffer: mac},
	}, nil
}

func (u *sessionUse) Validate(rc tpm2.TPMRC, cc tpm2.TPMCC, parms []byte, _ []tpm2.TPM2BName, _ int, auth *tpm2.TPMSAuthResponse) error {
	u.s.nonceTPM = auth.Nonce.Buffer
	if !auth.Attributes.ContinueSession {
		u.s.handle = 0
	}
	h := sessionCrypt.New()
	binary.Write(h, binary.BigEndian, rc)
	binary.Write(h, binary.BigEndian, cc)
	h.Write(parms)
	mac := sessionHMAC(u.hmacKey(), h.Sum(nil), u.s.nonceTPM, u.s.nonceCaller, nil, attrsByte(auth.Attributes))
	if !hmac.Equal(mac, auth.Authorization.Buffer) {
		return errors.New("salted session: response HMAC mismatch")
	}
	return nil
}

// Encrypt encrypts the first command parameter (TPM "decrypt" attribute).
func (u *sessionUse) Encrypt(p []byte) error {
	if !u.attrs.Decrypt {
		return nil
	}
	return u.cfb(p, u.s.nonceCaller, u.s.nonceTPM, true)
}

// Decrypt decrypts the first response parameter (TPM "encrypt" attribute).
func (u *sessionUse) Decrypt(p []byte) error {
	if !u.attrs.Encrypt {
		return nil
	}
	return u.cfb(p, u.s.nonceTPM, u.s.nonceCaller, false)
}

func (u *sessionUse) cfb(p, newer, older []byte, encrypt bool) error {
	keyIV := tpm2.KDFa(sessionCrypt, u.hmacKey(), "CFB", newer, older, (aesKeyBytes+cfbIVBytes)*8)
	block, err := aes.NewCipher(keyIV[:aesKeyBytes])
	if err != nil {
		return err
	}
	if encrypt {
		cipher.NewCFBEncrypter(block, keyIV[aesKeyBytes:]).XORKeyStream(p, p)
	} else {
		cipher.NewCFBDecrypter(block, keyIV[aesKeyBytes:]).XORKeyStream(p, p)
	}
	return nil
}

func sessionHMAC(key, pHash, nonceNewer, nonceOlder, addNonces []byte, attrs byte) []byte {
	m := hmac.New(sessionCrypt.New, key)
	m.Write(pHash)
	m.Write(nonceNewer)
	m.Write(nonceOlder)
	m.Write(addNonces)
	m.Write([]byte{attrs})
	return m.Sum(nil)
}

// attrsByte encodes TPMA_SESSION (Part 2, 8.4).
func attrsByte(a tpm2.TPMASession) byte {
	var b byte
	for i, set := range []bool{a.ContinueSession, a.AuditExclusive, a.AuditReset, false, false, a.Decrypt, a.Encrypt, a.Audit} {
		if set {
			b |= 1 << i
		}
	}
	return b
}
