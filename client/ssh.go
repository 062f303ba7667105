package client

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// SSHMarking is a key's offer to the daemon's ssh-agent socket: only keys
// that carry one are listed to ssh clients.
type SSHMarking struct {
	Comment     string    // "": the alias
	NotAfter    time.Time // zero: no end
	Certificate []byte    // an OpenSSH certificate of the key, wire format; nil: none
	// UnlockedUntil is when the PIN authorization cached by SSHUnlock
	// ends (zero: none cached). Filled by SSHKeys and the SSH calls only.
	UnlockedUntil time.Time
	// Destinations are the key's destination constraints (ssh-add -h);
	// none: unconstrained. Set by ssh-add -h through the ssh-agent socket.
	Destinations []SSHDestination
	// Confirm: each signature is confirmed first by the daemon's
	// ssh_askpass program (ssh-add -c); SSHEnable fails without one.
	Confirm bool
}

// SSHDestination is one permitted hop of a destination-constrained key
// (docs/PROTOCOL.md §6.29).
type SSHDestination = protocol.SSHDestination

// SSHDestinationString is d as ssh-add -h writes it: [from>][user@]to.
func SSHDestinationString(d SSHDestination) string {
	s := d.ToHost
	if d.ToUser != "" {
		s = d.ToUser + "@" + s
	}
	if d.FromHost != "" {
		s = d.FromHost + ">" + s
	}
	return s
}

func sshFromWire(si *protocol.SSHInfo) *SSHMarking {
	if si == nil {
		return nil
	}
	m := &SSHMarking{Comment: si.Comment, Certificate: si.Certificate, Destinations: si.Destinations, Confirm: si.Confirm}
	if si.NotAfter != 0 {
		m.NotAfter = time.Unix(si.NotAfter, 0)
	}
	if si.UnlockedUntil != 0 {
		m.UnlockedUntil = time.Unix(si.UnlockedUntil, 0)
	}
	return m
}

func (c *Client) sshKey(ctx context.Context, req *protocol.SSHKeyRequest) (*Key, error) {
	var resp protocol.SSHKeyResponse
	if err := c.roundTrip(ctx, protocol.OpSSHKey, req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}

// SSHEnable marks alias for ssh, with m's comment, end, certificate,
// destinations and confirmation (UnlockedUntil is ignored); a marking
// already there is replaced.
func (c *Client) SSHEnable(ctx context.Context, alias string, m SSHMarking) (*Key, error) {
	req := &protocol.SSHKeyRequest{Alias: alias, Action: protocol.SSHEnable, Comment: m.Comment, Certificate: m.Certificate,
		Confirm: m.Confirm, Destinations: m.Destinations}
	if !m.NotAfter.IsZero() {
		req.NotAfter = m.NotAfter.Unix()
	}
	return c.sshKey(ctx, req)
}

// SSHDisable removes alias's ssh marking; the key itself stays.
func (c *Client) SSHDisable(ctx context.Context, alias string) (*Key, error) {
	return c.sshKey(ctx, &protocol.SSHKeyRequest{Alias: alias, Action: protocol.SSHDisable})
}

// SSHUnlock checks pin against alias's key in the TPM and has the daemon
// keep the authorization in memory for d (0: 15 minutes; at most 24 h), so
// that ssh clients can use the PIN key through the ssh-agent socket.
func (c *Client) SSHUnlock(ctx context.Context, alias string, pin []byte, d time.Duration) (*Key, error) {
	return c.sshKey(ctx, &protocol.SSHKeyRequest{Alias: alias, Action: protocol.SSHUnlock, PIN: pin,
		Seconds: uint32(d / time.Second)})
}

// SSHForget drops the authorization SSHUnlock cached for alias.
func (c *Client) SSHForget(ctx context.Context, alias string) (*Key, error) {
	return c.sshKey(ctx, &protocol.SSHKeyRequest{Alias: alias, Action: protocol.SSHForget})
}

// SSHKeys returns the keys the ssh-agent socket offers: those marked for
// ssh whose marking has not ended.
func (c *Client) SSHKeys(ctx context.Context) ([]*Key, error) {
	var out []*Key
	cursor := ""
	for {
		var resp protocol.SSHListResponse
		if err := c.roundTrip(ctx, protocol.OpSSHList, &protocol.SSHListRequest{Cursor: cursor}, &resp); err != nil {
			return nil, err
		}
		for i := range resp.Keys {
			k, err := keyFromWire(&resp.Keys[i])
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
		if resp.NextCursor == "" {
			return out, nil
		}
		cursor = resp.NextCursor
	}
}

// SSHAgentLock locks the caller's ssh agent (as ssh-add -x): every ssh
// request of the uid fails until SSHAgentUnlock with the same passphrase.
func (c *Client) SSHAgentLock(ctx context.Context, passphrase []byte) error {
	var resp protocol.SSHAgentResponse
	return c.roundTrip(ctx, protocol.OpSSHAgent, &protocol.SSHAgentRequest{Action: protocol.SSHAgentLock, Passphrase: passphrase}, &resp)
}

// SSHAgentUnlock unlocks the caller's ssh agent (as ssh-add -X).
func (c *Client) SSHAgentUnlock(ctx context.Context, passphrase []byte) error {
	var resp protocol.SSHAgentResponse
	return c.roundTrip(ctx, protocol.OpSSHAgent, &protocol.SSHAgentRequest{Action: protocol.SSHAgentUnlock, Passphrase: passphrase}, &resp)
}

// SSHAuthorizedKey is k's public key as an authorized_keys line, with
// comment (none if empty).
func SSHAuthorizedKey(k *Key, comment string) (string, error) {
	pk, err := ssh.NewPublicKey(k.PublicKey)
	if err != nil {
		return "", fmt.Errorf("ssh.NewPublicKey: %w", err)
	}
	line := string(ssh.MarshalAuthorizedKey(pk))
	line = line[:len(line)-1]
	if comment != "" {
		line += " " + comment
	}
	return line, nil
}

var _ ssh.MultiAlgorithmSigner = (*sshSigner)(nil)

// sshSigner is a TPM key seen as an ssh.Signer, through the native Sign
// operation (the ssh marking is the ssh-agent socket's, not needed here).
type sshSigner struct {
	s   *signer
	pub ssh.PublicKey
}

// SSHSigner returns alias's key as an ssh.Signer for golang.org/x/crypto/ssh
// (an ssh.MultiAlgorithmSigner: ECDSA P-256 and P-384, and RSA with
// rsa-sha2-256 and rsa-sha2-512; ssh-rsa with SHA-1 is refused). It accepts
// WithPIN. ctx bounds the fetch only, as for Signer.
func (c *Client) SSHSigner(ctx context.Context, alias string, opts ...CallOption) (ssh.Signer, error) {
	cs, err := c.Signer(ctx, alias, opts...)
	if err != nil {
		return nil, err
	}
	pub, err := ssh.NewPublicKey(cs.Public())
	if err != nil {
		return nil, fmt.Errorf("SSHSigner: ssh.NewPublicKey: %w", err)
	}
	return &sshSigner{s: cs.(*signer), pub: pub}, nil
}

func (s *sshSigner) PublicKey() ssh.PublicKey { return s.pub }

func (s *sshSigner) Algorithms() []string {
	if s.s.isRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{s.pub.Type()}
}

// Sign signs with the key's default algorithm: rsa-sha2-512 for RSA.
func (s *sshSigner) Sign(r io.Reader, data []byte) (*ssh.Signature, error) {
	return s.SignWithAlgorithm(r, data, "")
}

func (s *sshSigner) SignWithAlgorithm(_ io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	if algorithm == "" {
		algorithm = s.Algorithms()[0]
	}
	var h crypto.Hash
	switch {
	case s.s.isRSA && algorithm == ssh.KeyAlgoRSASHA256:
		h = crypto.SHA256
	case s.s.isRSA && algorithm == ssh.KeyAlgoRSASHA512:
		h = crypto.SHA512
	case !s.s.isRSA && algorithm == s.pub.Type():
		h = crypto.SHA256
		if algorithm == ssh.KeyAlgoECDSA384 {
			h = crypto.SHA384
		}
	default:
		return nil, fmt.Errorf("%w: ssh algorithm %q with a %s key", ErrUnsupported, algorithm, s.s.key.Algorithm)
	}
	var digest []byte
	switch h {
	case crypto.SHA384:
		d := sha512.Sum384(data)
		digest = d[:]
	case crypto.SHA512:
		d := sha512.Sum512(data)
		digest = d[:]
	default:
		d := sha256.Sum256(data)
		digest = d[:]
	}
	sig, err := s.s.Sign(nil, digest, h)
	if err != nil {
		return nil, err
	}
	if s.s.isRSA {
		return &ssh.Signature{Format: algorithm, Blob: sig}, nil
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(sig, &rs); err != nil {
		return nil, fmt.Errorf("SSHSigner: ECDSA signature: %w", err)
	}
	return &ssh.Signature{Format: algorithm, Blob: ssh.Marshal(&rs)}, nil
}
