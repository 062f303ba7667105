package sshagent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh/agent"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/agent/frontend"
)

// Server serves the ssh-agent protocol on a listener: each connection's
// caller is identified by the kernel (SO_PEERCRED) and admitted by the
// core (Core.Connect: allow lists, connection limits per owner), by the
// shared acceptor (agent/frontend), then served by agent.ServeAgent with
// one agent bound to its Session.
type Server struct {
	*frontend.Acceptor
}

func NewServer(log *slog.Logger, c *core.Core) *Server {
	s := &Server{}
	s.Acceptor = frontend.New(log, c, frontend.Protocol{
		Name: "ssh-agent",
		Open: func(ctx context.Context, nc *net.UnixConn, caller core.Caller, sess *core.Session) frontend.Conn {
			ac := &agentConn{log: log, nc: nc, caller: caller}
			ac.m = &meteredConn{nc: nc, core: c, sess: sess, ctx: ctx, stopping: &ac.stopping}
			ac.a = &sshAgent{ctx: ctx, sess: sess, log: log, closeAsked: func() { ac.m.closing.Store(true) }}
			return ac
		},
		// The ssh-agent protocol has no greeting to refuse in; the core
		// logged the refusal, and the socket is closed.
	})
	return s
}

// agentConn is one ssh-agent connection.
type agentConn struct {
	log      *slog.Logger
	nc       *net.UnixConn
	caller   core.Caller
	m        *meteredConn
	a        *sshAgent
	stopping atomic.Bool // set by StopReading before it sets the read deadline
}

func (c *agentConn) Serve() {
	defer c.m.done()
	err := agent.ServeAgent(c.a, c.m)
	if err != nil && !errors.Is(err, io.EOF) && !c.stopping.Load() {
		c.log.Debug("ssh-agent connection closed", "uid", c.caller.UID, "pid", c.caller.PID, "reason", err)
	}
}

// StopReading lets the connection finish the request it is serving; a read
// deadline in the past ends the wait for the next.
func (c *agentConn) StopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Unix(1, 0))
}
