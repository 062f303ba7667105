package bench

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// sshConns is the connection count of the widest ssh-agent case.
const sshConns = 8

// sshConn is one ssh-agent connection with x/crypto's agent client.
type sshConn struct {
	nc net.Conn
	ag agent.ExtendedAgent
}

// sshSocketPath is the daemon's ssh-agent socket, next to its main one.
func (r *run) sshSocketPath() string { return filepath.Join(r.dir, "ssh-agent.sock") }

// setupSSH marks the hot key for ssh and dials n ssh-agent connections.
func (e *agentEnv) setupSSH(ctx context.Context, socket string, n int) error {
	k, err := e.shared.SSHEnable(ctx, hotAlias, client.SSHMarking{Comment: "bench"})
	if err != nil {
		return fmt.Errorf("SSHEnable %s: %w", hotAlias, err)
	}
	if e.sshPub, err = ssh.NewPublicKey(k.PublicKey); err != nil {
		return fmt.Errorf("ssh.NewPublicKey: %w", err)
	}
	for range n {
		nc, err := net.Dial("unix", socket)
		if err != nil {
			return fmt.Errorf("ssh-agent socket: %w", err)
		}
		e.ssh = append(e.ssh, &sshConn{nc: nc, ag: agent.NewClient(nc)})
	}
	return nil
}

func (e *agentEnv) closeSSH() {
	for _, c := range e.ssh {
		c.nc.Close()
	}
}

// sshCases sign the hot key through the ssh-agent socket, as ssh does: an
// SSH_AGENTC_SIGN_REQUEST per signature (the server hashes the data).
func (e *agentEnv) sshCases() []agentCase {
	if len(e.ssh) == 0 {
		return nil
	}
	data := e.digest // any bytes: what ssh sends is about this size
	sign := func(_ context.Context, w, _ int) error {
		sig, err := e.ssh[w].ag.Sign(e.sshPub, data)
		if err == nil && sig.Format != ssh.KeyAlgoECDSA256 {
			err = fmt.Errorf("ssh-agent signature format %s", sig.Format)
		}
		return err
	}
	return []agentCase{
		{"ssh-agent-1-connection", "ECDSA P-256 through the ssh-agent socket (x/crypto agent client), 1 connection, serial",
			RawECCSign, 1, 0.85, sign},
		{"ssh-agent-8-connections", "ECDSA P-256 through the ssh-agent socket, 8 connections, one goroutine each",
			RawECCSign, sshConns, 0.85, sign},
	}
}
