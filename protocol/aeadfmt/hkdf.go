package aeadfmt

import (
	"crypto/hkdf"
	"crypto/sha256"
)

// HKDF-SHA256 (RFC 5869) over HMAC-SHA256 (RFC 2104) written out for the
// sizes of a message key, on stack buffers: crypto/hkdf made 24 heap
// objects per message, most of the daemon's allocations for a small AEAD
// request. Inputs outside those sizes go to crypto/hkdf; hkdf_test.go
// checks this one against it.

const (
	sha256Block = 64
	// hkdfMaxMsg bounds what one HMAC here takes: the secret in extract,
	// T(i-1) || info || i in expand.
	hkdfMaxMsg = 160
)

// deriveHKDF fills out with HKDF-SHA256(secret, salt, info).
func deriveHKDF(out, secret, salt []byte, info string) error {
	if len(salt) > sha256Block || len(secret) > hkdfMaxMsg || sha256.Size+len(info)+1 > hkdfMaxMsg || len(out) > 255*sha256.Size {
		okm, err := hkdf.Key(sha256.New, secret, salt, info, len(out))
		copy(out, okm)
		clear(okm)
		return err
	}
	var key [sha256Block]byte
	copy(key[:], salt) // extract: HMAC(salt, secret); no salt is 32 zeros, the same padded key
	prk := hmacSHA256(&key, secret)
	clear(key[:])
	copy(key[:], prk[:])
	clear(prk[:])
	var msg [hkdfMaxMsg]byte
	var t [sha256.Size]byte
	for i, done := byte(1), 0; done < len(out); i++ { // expand: T(i) = HMAC(PRK, T(i-1) || info || i)
		n := 0
		if i > 1 {
			n = copy(msg[:], t[:])
		}
		n += copy(msg[n:], info)
		msg[n] = i
		t = hmacSHA256(&key, msg[:n+1])
		done += copy(out[done:], t[:])
	}
	clear(key[:])
	clear(msg[:])
	clear(t[:])
	return nil
}

// hmacSHA256 is HMAC-SHA256 with a key of at most one block (zero-padded
// in key) over msg (at most hkdfMaxMsg bytes).
func hmacSHA256(key *[sha256Block]byte, msg []byte) [sha256.Size]byte {
	var buf [sha256Block + hkdfMaxMsg]byte
	for i, k := range key {
		buf[i] = k ^ 0x36
	}
	n := copy(buf[sha256Block:], msg)
	inner := sha256.Sum256(buf[:sha256Block+n])
	for i, k := range key {
		buf[i] = k ^ 0x5c
	}
	copy(buf[sha256Block:], inner[:])
	sum := sha256.Sum256(buf[:sha256Block+sha256.Size])
	clear(buf[:])
	clear(inner[:])
	return sum
}
