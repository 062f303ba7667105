package pkcs11

import (
	"context"
	"log/slog"
	"net"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/agent/frontend"
)

// Server serves the PKCS#11 token (p11-kit's RPC) on a listener: the
// shared acceptor (agent/frontend) identifies each caller by the kernel
// (SO_PEERCRED) and has the core admit it (Core.Connect); conn.go serves
// the connection. A refused caller's socket is closed, which p11-kit's
// client reports as the token being absent.
type Server struct {
	*frontend.Acceptor
	log  *slog.Logger
	core *core.Core
}

// NewServer returns a server of the core c.
func NewServer(log *slog.Logger, c *core.Core) *Server {
	s := &Server{log: log, core: c}
	s.Acceptor = frontend.New(log, c, frontend.Protocol{
		Name: "pkcs11",
		Open: func(ctx context.Context, nc *net.UnixConn, _ core.Caller, sess *core.Session) frontend.Conn {
			return newConn(s, ctx, nc, sess)
		},
	})
	return s
}
