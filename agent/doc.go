//go:build linux

// Package agent is the tpmkeyd daemon: it owns the state directory, the
// TPM (package tpm) and the key store (agent/store), builds the core
// (agent/core) and runs its front ends (agent/native; agent/sshagent, the
// ssh-agent socket, listen_ssh.go; agent/pkcs11, the PKCS#11 socket,
// pkcs11_front.go), and speaks
// to systemd (socket activation, sd_notify, the watchdog, live reload).
//
// A request, from the socket to its answer, reads straight through the
// files:
//
//  1. agent/frontend/acceptor.go Serve accepts a connection (the same
//     acceptor serves every front end; agent/native/server.go makes the
//     native one); core.PeerCredentials (agent/core/peercred_linux.go)
//     captures the caller from the kernel, and Core.Connect
//     (agent/core/core.go) admits it: allow lists, the owner's connection
//     limit (agent/core/limits.go, owner.go).
//  2. agent/native/conn.go reads a frame, after taking its memory budget
//     (Session.HoldFrame, agent/core/budget.go), and makes it a core.Call.
//  3. Session.Do (agent/core/core.go) runs the call through the core:
//     admission (agent/core/admit.go: rate cost, unknown opcodes), decoding,
//     the one lookup step (agent/core/lookup.go: namespace, alias, purpose,
//     the store), the rest of the rate cost, the wrong-PIN guard
//     (agent/core/pinguard.go), then the operation's handler from the
//     operation table (agent/core/optable.go → agent/core/ops_*.go), which
//     asks the store (agent/store) and the TPM (package tpm, whose
//     scheduler serves owners in turn).
//  4. The error, if any, becomes a status in one table
//     (agent/core/errors.go), and the audit record is written
//     (agent/core/audit.go, bounded by agent/core/logs.go).
//  5. agent/native/conn.go writes the response frame and wipes the call's
//     secrets (Call.Finish).
//
// This package wires those: daemon.go (Run, start, stop), daemon_reload.go
// (Reload, the watchdog and STATUS line), listen.go (the socket),
// notify.go (sd_notify), config_watch.go (reload on file change).
package agent
