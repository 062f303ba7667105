package core

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
)

// Confirmation of keys added with ssh-add -c: before each signature the
// daemon runs the configured ssh_askpass program as OpenSSH's agent runs
// SSH_ASKPASS, with SSH_ASKPASS_PROMPT=confirm and the question as its
// argument; exit status 0 is yes, anything else (or no answer within a
// minute) is no. It runs as the daemon's user, which is the admin's
// choice of program: it is told the caller's uid and pid in the
// environment, and must reach that user itself.

const (
	sshConfirmTimeout = time.Minute
	// One prompt at a time per owner, and a bound in all, so that no
	// caller fills the machine with prompts or blocks another's.
	maxConfirmsPerOwner = 1
	maxConfirms         = 16
)

// startConfirm takes a prompt slot of owner; ErrBusy when none is free.
func (s *sshState) startConfirm(owner uint32) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.confirms[owner] >= maxConfirmsPerOwner || s.nconfirms >= maxConfirms {
		return nil, fmt.Errorf("a confirmation is already asked: %w", ErrBusy)
	}
	s.confirms[owner]++
	s.nconfirms++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.confirms[owner]--; s.confirms[owner] == 0 {
			delete(s.confirms, owner)
		}
		s.nconfirms--
	}, nil
}

// sshConfirm asks program whether rec may sign for the caller now.
func (c *Core) sshConfirm(ctx context.Context, call *Call, rec *store.Record, program string) error {
	if program == "" {
		return fmt.Errorf("key %q: %w", rec.Alias, ErrSSHNoAskpass)
	}
	release, err := c.ssh.startConfirm(call.caller.Owner)
	if err != nil {
		return err
	}
	defer release()
	pk, err := sshPublicKey(rec)
	if err != nil {
		return err
	}
	comment := rec.SSH.Comment
	if comment == "" {
		comment = rec.Alias
	}
	ctx, cancel := context.WithTimeout(ctx, sshConfirmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, program,
		fmt.Sprintf("Allow use of key %s?\nKey fingerprint %s.", comment, ssh.FingerprintSHA256(pk)))
	cmd.Env = []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"SSH_ASKPASS_PROMPT=confirm",
		"TPMKEYD_UID=" + strconv.FormatUint(uint64(call.caller.UID), 10),
		"TPMKEYD_PID=" + strconv.FormatInt(int64(call.caller.PID), 10),
		"TPMKEYD_ALIAS=" + rec.Alias,
	}
	cmd.WaitDelay = time.Second // a child left holding the program's output does not hold us
	start := time.Now()
	err = cmd.Run()
	if err != nil {
		if ok, _ := c.failLog.allow(call.caller.Owner); ok {
			c.log.Info("ssh signature not confirmed (ssh-add -c)", "op", call.Op.String(), "uid", call.caller.UID,
				"pid", call.caller.PID, "alias", rec.Alias, "dur", time.Since(start), "err", err)
		}
		return fmt.Errorf("key %q: %w", rec.Alias, ErrSSHNotConfirmed)
	}
	return nil
}
