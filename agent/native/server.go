package native

import (
	"context"
	"log/slog"
	"net"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/agent/frontend"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Server is the socket front end of the native protocol
// (docs/PROTOCOL.md): the shared acceptor (agent/frontend) accepts
// connections and has the core admit each caller; conn.go turns frames
// into Calls and the core's Results into frames. It decides nothing:
// access, limits and audit are the core's.
type Server struct {
	*frontend.Acceptor
	log  *slog.Logger
	core *core.Core
	pool protocol.BufferPool // frame buffers, requests and responses (no secret stays in it)
}

func NewServer(log *slog.Logger, c *core.Core) *Server {
	s := &Server{log: log, core: c}
	s.Acceptor = frontend.New(log, c, frontend.Protocol{
		Name: "native",
		Open: func(ctx context.Context, nc *net.UnixConn, _ core.Caller, sess *core.Session) frontend.Conn {
			return newConn(s, ctx, nc, sess)
		},
		// A caller the core refused gets the status as an unasked frame
		// (docs/PROTOCOL.md §2).
		Refuse: func(nc *net.UnixConn, err error) {
			st, msg := core.ErrorStatus(err)
			newConn(s, context.Background(), nc, nil).refuse(st, msg)
		},
	})
	return s
}
