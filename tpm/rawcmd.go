package tpm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// Hand-encoded TPM2_Sign and TPM2_Load for the hot path (TPM 2.0 Part 3,
// §20.2 and §12.2; Part 1 §18 for the command and response layouts). Both
// use the empty password session, so nothing here is secret and nothing
// depends on a nonce. go-tpm's reflective codec costs more CPU per command
// than swtpm takes to sign; everything else still goes through go-tpm. The
// tests check these bytes against go-tpm's encoding of the same command.

const (
	cmdHeaderSize = 10            // tag u16, size u32, command code u32
	signKeyOffset = cmdHeaderSize // where the key handle sits in TPM2_Sign
	maxECCScalar  = 48            // P-384; keeps the DER lengths short-form
	maxRSASig     = 512           // RSA-4096
)

var errMalformed = errors.New("malformed TPM response")

func appendCmdHeader(b []byte, cc tpm2.TPMCC) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(tpm2.TPMSTSessions))
	b = binary.BigEndian.AppendUint32(b, 0) // patched by finishCmd
	return binary.BigEndian.AppendUint32(b, uint32(cc))
}

// appendPWAuth appends the authorization area of one empty password
// session: its size (u32 9), TPM_RS_PW, an empty nonce, no attributes, an
// empty HMAC.
func appendPWAuth(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, 9)
	b = binary.BigEndian.AppendUint32(b, uint32(tpm2.TPMRSPW))
	b = binary.BigEndian.AppendUint16(b, 0) // nonce
	b = append(b, 0)                        // session attributes
	return binary.BigEndian.AppendUint16(b, 0)
}

func append2B(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// finishCmd writes the command's total size into its header.
func finishCmd(b []byte) []byte {
	binary.BigEndian.PutUint32(b[2:6], uint32(len(b)))
	return b
}

// appendSignCmd encodes TPM2_Sign of digest with scheme/hash and a NULL
// hash-check ticket, authorized by the empty password. The key handle is
// left 0: setSignKey fills it in once the key is loaded.
func appendSignCmd(b []byte, digest []byte, scheme tpm2.TPMAlgID, hash tpm2.TPMIAlgHash) []byte {
	b = appendCmdHeader(b, tpm2.TPMCCSign)
	b = binary.BigEndian.AppendUint32(b, 0) // keyHandle
	b = appendPWAuth(b)
	b = append2B(b, digest)
	b = binary.BigEndian.AppendUint16(b, uint16(scheme))
	b = binary.BigEndian.AppendUint16(b, uint16(hash))
	b = binary.BigEndian.AppendUint16(b, uint16(tpm2.TPMSTHashCheck))
	b = binary.BigEndian.AppendUint32(b, uint32(tpm2.TPMRHNull))
	b = binary.BigEndian.AppendUint16(b, 0) // ticket digest
	return finishCmd(b)
}

func setSignKey(cmd []byte, h tpm2.TPMHandle) {
	binary.BigEndian.PutUint32(cmd[signKeyOffset:], uint32(h))
}

// appendLoadCmd encodes TPM2_Load under parent, authorized by the empty
// password; parms is the blob's marshalled TPM2B_PRIVATE || TPM2B_PUBLIC.
func appendLoadCmd(b []byte, parent tpm2.TPMHandle, parms []byte) []byte {
	b = appendCmdHeader(b, tpm2.TPMCCLoad)
	b = binary.BigEndian.AppendUint32(b, uint32(parent))
	b = appendPWAuth(b)
	b = append(b, parms...)
	return finishCmd(b)
}

// flushCmd encodes TPM2_FlushContext of h (Part 3 §28.4): no sessions,
// the handle is a parameter.
func flushCmd(h tpm2.TPMHandle) []byte {
	b := make([]byte, 0, cmdHeaderSize+4)
	b = binary.BigEndian.AppendUint16(b, uint16(tpm2.TPMSTNoSessions))
	b = binary.BigEndian.AppendUint32(b, cmdHeaderSize+4)
	b = binary.BigEndian.AppendUint32(b, uint32(tpm2.TPMCCFlushContext))
	return binary.BigEndian.AppendUint32(b, uint32(h))
}

// splitRsp checks a response header (Part 1 §18: tag, size, response
// code) and returns the tag and what follows the header. A response code
// other than success comes back as a tpm2.TPMRC error, as go-tpm does.
func splitRsp(rsp []byte) (tpm2.TPMST, []byte, error) {
	if len(rsp) < cmdHeaderSize || int(binary.BigEndian.Uint32(rsp[2:6])) != len(rsp) {
		return 0, nil, fmt.Errorf("%w: header", errMalformed)
	}
	if rc := tpm2.TPMRC(binary.BigEndian.Uint32(rsp[6:10])); rc != tpm2.TPMRCSuccess {
		return 0, nil, rc
	}
	return tpm2.TPMST(binary.BigEndian.Uint16(rsp)), rsp[cmdHeaderSize:], nil
}

// sendFlush sends TPM2_FlushContext of h and checks the response code.
func sendFlush(tr transport.TPM, h tpm2.TPMHandle) error {
	rsp, err := tr.Send(flushCmd(h))
	if err != nil {
		return err
	}
	_, _, err = splitRsp(rsp)
	return err
}

// sendRaw sends cmd and returns the parameter area of a successful
// response to a command with sessions (after handles handles), or the
// TPM's response code as a tpm2.TPMRC error, as go-tpm does.
func sendRaw(tr transport.TPM, cmd []byte, handles int) (hs []byte, params []byte, err error) {
	rsp, err := tr.Send(cmd)
	if err != nil {
		return nil, nil, err
	}
	return parseSessionsRsp(rsp, handles)
}

// parseSessionsRsp splits the response to a command with sessions into
// its handles and its parameter area.
func parseSessionsRsp(rsp []byte, handles int) (hs []byte, params []byte, err error) {
	tag, rest, err := splitRsp(rsp)
	if err != nil {
		return nil, nil, err
	}
	if tag != tpm2.TPMSTSessions {
		return nil, nil, fmt.Errorf("%w: tag %#x", errMalformed, uint16(tag))
	}
	if len(rest) < 4*handles+4 {
		return nil, nil, fmt.Errorf("%w: too short", errMalformed)
	}
	hs, rest = rest[:4*handles], rest[4*handles:]
	n := binary.BigEndian.Uint32(rest)
	if uint64(n) > uint64(len(rest)-4) {
		return nil, nil, fmt.Errorf("%w: parameter size %d", errMalformed, n)
	}
	// The password session's response area (empty nonce, attributes,
	// empty HMAC) follows; nothing in it needs checking.
	return hs, rest[4 : 4+n], nil
}

// parseLoadRsp returns the handle and Name of a TPM2_Load response.
func parseLoadRsp(hs, params []byte) (tpm2.TPMHandle, []byte, error) {
	name, rest, err := take2B(params)
	if err != nil || len(rest) != 0 || len(hs) != 4 {
		return 0, nil, fmt.Errorf("%w: TPM2_Load", errMalformed)
	}
	return tpm2.TPMHandle(binary.BigEndian.Uint32(hs)), append([]byte(nil), name...), nil
}

// rawSignature is a TPMT_SIGNATURE as the hot path needs it: the
// algorithm and either R and S (ECDSA) or the RSA signature in r.
type rawSignature struct {
	alg  tpm2.TPMAlgID
	r, s []byte
}

// parseSignRsp decodes the TPMT_SIGNATURE of a TPM2_Sign response.
func parseSignRsp(params []byte) (rawSignature, error) {
	var sig rawSignature
	if len(params) < 4 {
		return sig, fmt.Errorf("%w: TPM2_Sign", errMalformed)
	}
	sig.alg = tpm2.TPMAlgID(binary.BigEndian.Uint16(params))
	rest := params[4:] // sigAlg, then the hash of every scheme we use
	var err error
	switch sig.alg {
	case tpm2.TPMAlgECDSA:
		if sig.r, rest, err = take2B(rest); err == nil {
			sig.s, rest, err = take2B(rest)
		}
	case tpm2.TPMAlgRSASSA, tpm2.TPMAlgRSAPSS:
		sig.r, rest, err = take2B(rest)
	default:
		return sig, fmt.Errorf("%w: TPM2_Sign signature algorithm %v", errMalformed, sig.alg)
	}
	if err != nil || len(rest) != 0 || len(sig.r) > maxRSASig || (sig.alg == tpm2.TPMAlgECDSA && max(len(sig.r), len(sig.s)) > maxECCScalar) {
		return sig, fmt.Errorf("%w: TPM2_Sign signature", errMalformed)
	}
	return sig, nil
}

func take2B(b []byte) (data, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, errMalformed
	}
	n := int(binary.BigEndian.Uint16(b))
	if len(b)-2 < n {
		return nil, nil, errMalformed
	}
	return b[2 : 2+n], b[2+n:], nil
}

// encodeRawSignature returns DER for ECDSA, the raw signature for RSA.
func encodeRawSignature(sig rawSignature) []byte {
	if sig.alg != tpm2.TPMAlgECDSA {
		return append([]byte(nil), sig.r...)
	}
	r, s := derInt(sig.r), derInt(sig.s)
	// Scalars of at most 48 bytes keep every length below 128: short form.
	out := make([]byte, 0, 2+2+len(r)+2+len(s))
	out = append(out, 0x30, byte(4+len(r)+len(s)))
	out = append(append(out, 0x02, byte(len(r))), r...)
	return append(append(out, 0x02, byte(len(s))), s...)
}

// derInt is the content of a DER INTEGER holding the unsigned big-endian v.
func derInt(v []byte) []byte {
	for len(v) > 1 && v[0] == 0 {
		v = v[1:]
	}
	if len(v) == 0 {
		return []byte{0}
	}
	if v[0]&0x80 != 0 {
		return append([]byte{0}, v...)
	}
	return v
}
