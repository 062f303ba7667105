package sshagent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Add is ssh-add KEYFILE: the private key is imported into the TPM under
// the SRK (the core's Import), then marked for ssh with the key's comment,
// -t as the marking's end, and its certificate if one came with it. The
// plaintext is never stored. -h (restrict-destination-v00@openssh.com)
// becomes the marking's destinations, -c its confirmation (which the core
// refuses, before anything is imported, unless ssh_askpass is set); every
// other constraint is refused, never ignored.
func (a *sshAgent) Add(key agent.AddedKey) error {
	var dests []protocol.SSHDestination
	seen := false
	for _, ext := range key.ConstraintExtensions {
		if ext.ExtensionName != extRestrictDestination || seen {
			return fmt.Errorf("%w: %s", ErrConstraint, ext.ExtensionName)
		}
		seen = true
		var err error
		if dests, err = parseDestinations(ext.ExtensionDetails); err != nil {
			return err
		}
	}
	if _, err := a.do(protocol.OpSSHAgent, &protocol.SSHAgentRequest{Action: protocol.SSHAgentCheck, Confirm: key.ConfirmBeforeUse}); err != nil {
		return err
	}
	signer, err := ssh.NewSignerFromKey(key.PrivateKey)
	if err != nil {
		return fmt.Errorf("ssh-add: %w", err)
	}
	pub := signer.PublicKey()
	alias := importAlias(pub)
	if err := a.importKey(alias, key.PrivateKey); err != nil {
		return err
	}
	req := &protocol.SSHKeyRequest{Alias: alias, Action: protocol.SSHEnable, Comment: key.Comment, Destinations: dests,
		Confirm: key.ConfirmBeforeUse}
	if len(req.Comment) > 256 {
		req.Comment = req.Comment[:256]
	}
	if key.LifetimeSecs > 0 {
		req.NotAfter = time.Now().Add(time.Duration(key.LifetimeSecs) * time.Second).Unix()
	}
	if key.Certificate != nil {
		req.Certificate = key.Certificate.Marshal()
	}
	_, err = a.do(protocol.OpSSHKey, req)
	return err
}

// importAlias names an imported key after its fingerprint, so that adding
// the same key again finds it (KEY_EXISTS, then the marking is renewed).
func importAlias(pub ssh.PublicKey) string {
	sum := sha256.Sum256(pub.Marshal())
	return "ssh-" + hex.EncodeToString(sum[:8])
}
