package sshagent

import "errors"

// Errors the front end answers with SSH_AGENT_FAILURE; the ssh-agent
// protocol carries no reason, so each is logged once at debug level.
var (
	ErrConstraint         = errors.New("key constraint not supported or malformed (only restrict-destination-v00@openssh.com, ssh-add -h, is known; others are refused, never ignored)")
	ErrUnknownKey         = errors.New("no key marked for ssh has this public key")
	ErrSigners            = errors.New("the agent's private keys stay in the TPM")
	ErrFrame              = errors.New("ssh-agent request of length 0 or over the limit")
	ErrClosing            = errors.New("connection closed by the core after repeated failures")
	ErrBadSessionBind     = errors.New("session-bind@openssh.com: bad host key signature")
	ErrSessionBindRefused = errors.New("session-bind@openssh.com refused")
)
