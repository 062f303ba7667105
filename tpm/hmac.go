package tpm

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// HMAC returns HMAC-SHA256 of data (at most MaxMACData bytes) under an
// HMACSHA256 key, computed by the TPM: the key never leaves it. Data up to
// the TPM's input buffer (Info().InputBuffer) takes one TPM2_HMAC; longer
// data an HMAC sequence (TPM2_HMAC_Start, TPM2_SequenceUpdate,
// TPM2_SequenceComplete; Part 3 §15.5, §17.2–17.5).
//
// Neither data nor the tag is treated as secret: both cross the bus in the
// clear. A key with a PIN is authorized through the salted session, so the
// PIN does not. Once the key is loaded, one TPM2_HMAC is the only command:
// hand-encoded for a key without PIN or policy (rawcmd_hmac.go) and for a
// PIN key (rawcmd_session.go); a PCR-bound key goes through go-tpm.
func (t *TPM) HMAC(ctx context.Context, b *Blob, a Auth, data []byte) ([]byte, error) {
	p, err := t.use(b, a, PurposeMAC)
	if err != nil {
		return nil, fmt.Errorf("tpm.HMAC: %w", err)
	}
	if len(data) > MaxMACData {
		return nil, fmt.Errorf("tpm.HMAC: %w: %d bytes of data (at most %d)", ErrInvalid, len(data), MaxMACData)
	}
	chunk := t.info.InputBuffer
	if chunk == 0 {
		chunk = defaultInputBuffer
	}
	if len(data) <= chunk {
		return t.hmacOnce(ctx, p, a, data, false)
	}
	var out []byte
	err = t.withKey(ctx, "tpm2.HMAC_Start", p, a, false, false, func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error {
		var err error
		out, err = t.hmacSequenceLocked(tr, ah, extra, data, chunk)
		return err
	})
	return out, err
}

// MaxLabelSize is the longest label DeriveKey accepts.
const MaxLabelSize = 256

// DeriveKey returns HMAC-SHA256(k, label) for an HMACSHA256 key k: a
// 32-byte secret (a working key) derived inside the TPM, which the caller
// must zero when done with it. Unlike HMAC's tag, it comes back encrypted
// by the salted session, so it never crosses the bus in the clear; k itself
// never leaves the TPM. The label (1..MaxLabelSize bytes) is not secret.
func (t *TPM) DeriveKey(ctx context.Context, b *Blob, a Auth, label []byte) ([]byte, error) {
	p, err := t.use(b, a, PurposeMAC)
	if err != nil {
		return nil, fmt.Errorf("tpm.DeriveKey: %w", err)
	}
	if len(label) == 0 || len(label) > MaxLabelSize {
		return nil, fmt.Errorf("tpm.DeriveKey: %w: label of %d bytes (1..%d)", ErrInvalid, len(label), MaxLabelSize)
	}
	return t.hmacOnce(ctx, p, a, label, true)
}

// hmacOnce is one TPM2_HMAC; encOut asks for its result to be encrypted.
func (t *TPM) hmacOnce(ctx context.Context, p *parsedBlob, a Auth, data []byte, encOut bool) ([]byte, error) {
	if !encOut && !p.hasPIN && !p.hasPolicy {
		// Encoded here, before the TPM's turn: only the exchange waits.
		return t.hmacPassword(ctx, p, appendHMACCmd(make([]byte, 0, hmacCmdSize(len(data))), data))
	}
	if p.hasPIN && !p.hasPolicy {
		return t.hmacPIN(ctx, p, a.PIN, data, encOut)
	}
	var out []byte
	err := t.withKey(ctx, "tpm2.HMAC", p, a, encOut, false, func(tr transport.TPM, ah tpm2.AuthHandle, extra []tpm2.Session) error {
		rsp, err := tpm2.Hmac{Handle: ah, Buffer: tpm2.TPM2BMaxBuffer{Buffer: data}, HashAlg: tpm2.TPMAlgSHA256}.Execute(tr, extra...)
		if err == nil {
			out = rsp.OutHMAC.Buffer
		}
		return err
	})
	return out, err
}

// hmacPassword is the hot path: a key authorized by the empty password,
// with a TPM2_HMAC encoded before the TPM's turn; the turn covers only the
// (cached) load and the one exchange with the TPM.
func (t *TPM) hmacPassword(ctx context.Context, p *parsedBlob, cmd []byte) ([]byte, error) {
	var params []byte
	err := t.do(ctx, "tpm2.HMAC", func(tr transport.TPM) error {
		k, err := t.loadLocked(tr, p)
		if err != nil {
			return err
		}
		setHMACKey(cmd, k.handle)
		_, params, err = sendRaw(tr, cmd, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	tag, err := parseHMACRsp(params)
	if err != nil {
		return nil, fmt.Errorf("tpm.HMAC: %w", err)
	}
	return tag, nil
}

// hmacPIN is one TPM2_HMAC of a key with a PIN, hand-encoded, through the
// kept salted session with the PIN as its HMAC auth; encOut has the TPM
// encrypt the result (DeriveKey).
func (t *TPM) hmacPIN(ctx context.Context, p *parsedBlob, pin, data []byte, encOut bool) ([]byte, error) {
	attrs := byte(attrContinue)
	if encOut {
		attrs |= attrEncrypt
	}
	var tag []byte
	err := t.do(ctx, "tpm2.HMAC", func(tr transport.TPM) error {
		k, err := t.loadLocked(tr, p)
		if err != nil {
			return err
		}
		s, err := t.sessionLocked()
		if err != nil {
			return err
		}
		if _, err := rand.Read(s.nonceCaller); err != nil {
			return err
		}
		rsp, err := tr.Send(appendHMACSessionCmd(make([]byte, 0, hmacSessionCmdSize(len(data))), s, pin, k, data, attrs))
		if err != nil {
			return err
		}
		tag, err = parseHMACSessionRsp(rsp, s, pin, encOut)
		return err
	})
	return tag, err
}

// hmacSequenceLocked runs one HMAC sequence over data, in chunks of at most
// chunk bytes. A sequence is a transient object of its own: it is flushed
// on every failure after HMAC_Start (a successful SequenceComplete ends it).
// Its auth value is empty: it lives only within this turn, on this
// connection, and it holds no more than the data, which is not secret.
func (t *TPM) hmacSequenceLocked(tr transport.TPM, key tpm2.AuthHandle, extra []tpm2.Session, data []byte, chunk int) ([]byte, error) {
	start, err := tpm2.HmacStart{Handle: key, HashAlg: tpm2.TPMAlgSHA256}.Execute(tr, extra...)
	if err != nil {
		return nil, err
	}
	seq := tpm2.AuthHandle{Handle: start.SequenceHandle, Auth: tpm2.PasswordAuth(nil)}
	for len(data) > chunk {
		if _, err := (tpm2.SequenceUpdate{SequenceHandle: seq, Buffer: tpm2.TPM2BMaxBuffer{Buffer: data[:chunk]}}).Execute(tr); err != nil {
			t.flushLocked(seq.Handle)
			return nil, fmt.Errorf("tpm2.SequenceUpdate: %w", err)
		}
		data = data[chunk:]
	}
	rsp, err := tpm2.SequenceComplete{
		SequenceHandle: seq,
		Buffer:         tpm2.TPM2BMaxBuffer{Buffer: data},
		Hierarchy:      tpm2.TPMRHNull,
	}.Execute(tr)
	if err != nil {
		t.flushLocked(seq.Handle)
		return nil, fmt.Errorf("tpm2.SequenceComplete: %w", err)
	}
	return rsp.Result.Buffer, nil
}
