package tpm

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// Hand-encoded TPM2_HMAC (TPM 2.0 Part 3 §15.5) for a key authorized by
// the empty password: the MAC hot path, like TPM2_Sign's in rawcmd.go.
// Neither the data nor the tag is secret, so nothing here needs the salted
// session; a key with a PIN or a policy, and DeriveKey (whose result must
// come back encrypted), still go through go-tpm and the session.

const hmacKeyOffset = cmdHeaderSize // where the key handle sits in TPM2_HMAC

// hmacCmdSize is the size of a TPM2_HMAC command over n bytes of data.
func hmacCmdSize(n int) int { return cmdHeaderSize + 4 + 13 + 2 + n + 2 }

// appendHMACCmd encodes TPM2_HMAC of data with SHA-256, authorized by the
// empty password. The key handle is left 0: setHMACKey fills it in once
// the key is loaded. data must fit a TPM2B_MAX_BUFFER (the caller checks
// it against the TPM's input buffer).
func appendHMACCmd(b, data []byte) []byte {
	b = appendCmdHeader(b, tpm2.TPMCCHMAC)
	b = binary.BigEndian.AppendUint32(b, 0) // handle
	b = appendPWAuth(b)
	b = append2B(b, data)
	b = binary.BigEndian.AppendUint16(b, uint16(tpm2.TPMAlgSHA256))
	return finishCmd(b)
}

func setHMACKey(cmd []byte, h tpm2.TPMHandle) {
	binary.BigEndian.PutUint32(cmd[hmacKeyOffset:], uint32(h))
}

// parseHMACRsp returns a copy of the TPM2B_DIGEST outHMAC of a TPM2_HMAC
// response's parameter area: exactly one SHA-256 digest, nothing after it.
func parseHMACRsp(params []byte) ([]byte, error) {
	tag, rest, err := take2B(params)
	if err != nil || len(rest) != 0 || len(tag) != sha256.Size {
		return nil, fmt.Errorf("%w: TPM2_HMAC", errMalformed)
	}
	return append(make([]byte, 0, sha256.Size), tag...), nil
}
