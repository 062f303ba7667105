// Package sshagent is the ssh-agent front end of tpmkeyd: it serves the
// ssh-agent protocol (draft-miller-ssh-agent, OpenSSH's PROTOCOL.agent)
// with golang.org/x/crypto/ssh/agent over the core, one agent per
// connection bound to the caller's core.Session. It translates and
// decides nothing: access, limits, the agent lock and audit are the core's.
package sshagent
