package keyfile

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"hash"
)

// PBES2 (RFC 8018 §6.2) with PBKDF2 and AES-CBC, as `openssl pkcs8 -topk8
// -v2 aes256` and `openssl genpkey -aes256` write it.

var (
	oidPBES2          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2         = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACWithSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidAES128CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC      = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// maxIterations bounds the PBKDF2 work a file can ask for.
const maxIterations = 10_000_000

type encryptedPrivateKeyInfo struct {
	Algo          pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KeyDerivationFunc pkix.AlgorithmIdentifier
	EncryptionScheme  pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt           []byte
	IterationCount int
	KeyLength      int                      `asn1:"optional"`
	PRF            pkix.AlgorithmIdentifier `asn1:"optional"`
}

// parseEncryptedPKCS8 decrypts an EncryptedPrivateKeyInfo and parses the
// PKCS #8 key inside.
func parseEncryptedPKCS8(der []byte, passphrase Passphrase) (crypto.Signer, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: EncryptedPrivateKeyInfo", ErrMalformed)
	}
	if !info.Algo.Algorithm.Equal(oidPBES2) {
		return nil, fmt.Errorf("%w: key encryption %v (want PBES2)", ErrUnsupported, info.Algo.Algorithm)
	}
	var params pbes2Params
	if rest, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &params); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: PBES2 parameters", ErrMalformed)
	}
	keyLen, iv, err := aesParams(params.EncryptionScheme)
	if err != nil {
		return nil, err
	}
	h, salt, iter, err := kdfParams(params.KeyDerivationFunc, keyLen)
	if err != nil {
		return nil, err
	}
	if len(info.EncryptedData) == 0 || len(info.EncryptedData)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: encrypted data of %d bytes", ErrMalformed, len(info.EncryptedData))
	}
	if passphrase == nil {
		return nil, ErrEncrypted
	}
	pw, err := passphrase()
	if err != nil {
		return nil, fmt.Errorf("keyfile: passphrase: %w", err)
	}
	key, err := pbkdf2.Key(h, string(pw), salt, iter, keyLen)
	if err != nil {
		return nil, fmt.Errorf("%w: pbkdf2: %v", ErrMalformed, err)
	}
	defer clear(key)
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	plain := make([]byte, len(info.EncryptedData))
	defer clear(plain)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, info.EncryptedData)
	plain, ok := unpad(plain)
	if !ok {
		return nil, ErrPassphrase
	}
	var p8 pkcs8
	if rest, err := asn1.Unmarshal(plain, &p8); err != nil || len(rest) != 0 || p8.Algo.Algorithm == nil {
		return nil, ErrPassphrase
	}
	return parsePKCS8(plain, &p8)
}

func aesParams(alg pkix.AlgorithmIdentifier) (keyLen int, iv []byte, err error) {
	switch {
	case alg.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case alg.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case alg.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return 0, nil, fmt.Errorf("%w: PBES2 cipher %v (want AES-CBC)", ErrUnsupported, alg.Algorithm)
	}
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &iv); err != nil || len(rest) != 0 || len(iv) != aes.BlockSize {
		return 0, nil, fmt.Errorf("%w: AES-CBC IV", ErrMalformed)
	}
	return keyLen, iv, nil
}

func kdfParams(alg pkix.AlgorithmIdentifier, keyLen int) (func() hash.Hash, []byte, int, error) {
	if !alg.Algorithm.Equal(oidPBKDF2) {
		return nil, nil, 0, fmt.Errorf("%w: PBES2 KDF %v (want PBKDF2)", ErrUnsupported, alg.Algorithm)
	}
	var p pbkdf2Params
	if rest, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil || len(rest) != 0 {
		return nil, nil, 0, fmt.Errorf("%w: PBKDF2 parameters", ErrMalformed)
	}
	if p.IterationCount < 1 || p.IterationCount > maxIterations {
		return nil, nil, 0, fmt.Errorf("%w: PBKDF2 iteration count %d (1..%d)", ErrUnsupported, p.IterationCount, maxIterations)
	}
	if p.KeyLength != 0 && p.KeyLength != keyLen {
		return nil, nil, 0, fmt.Errorf("%w: PBKDF2 key length %d, cipher needs %d", ErrMalformed, p.KeyLength, keyLen)
	}
	switch {
	case p.PRF.Algorithm == nil || p.PRF.Algorithm.Equal(oidHMACWithSHA1):
		return sha1.New, p.Salt, p.IterationCount, nil
	case p.PRF.Algorithm.Equal(oidHMACWithSHA256):
		return sha256.New, p.Salt, p.IterationCount, nil
	}
	return nil, nil, 0, fmt.Errorf("%w: PBKDF2 PRF %v (want HMAC-SHA1 or HMAC-SHA256)", ErrUnsupported, p.PRF.Algorithm)
}

// unpad strips PKCS #7 padding; false when it is not well formed (most
// often: a wrong passphrase).
func unpad(b []byte) ([]byte, bool) {
	n := int(b[len(b)-1])
	if n == 0 || n > aes.BlockSize || n > len(b) {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}
