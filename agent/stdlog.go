//go:build linux

package agent

import (
	"io"
	"log/slog"
	"strings"

	"golang.org/x/time/rate"
)

// StdLogWriter is where the standard library's log package should write
// in the daemon: golang.org/x/crypto/ssh/agent logs every request it
// refuses through it, which a caller could otherwise use to flood the
// journal. Lines become debug records of l, at most 10 a second (bursts of
// 20); the rest are counted and the count given with the next line.
func StdLogWriter(l *slog.Logger) io.Writer {
	return &stdLog{log: l, lim: rate.NewLimiter(10, 20)}
}

type stdLog struct {
	log        *slog.Logger
	lim        *rate.Limiter
	suppressed int // guarded by the log package's own mutex (one Write at a time)
}

func (w *stdLog) Write(p []byte) (int, error) {
	if !w.lim.Allow() {
		w.suppressed++
		return len(p), nil
	}
	w.log.Debug("library log", "line", strings.TrimSpace(string(p)), "suppressed", w.suppressed)
	w.suppressed = 0
	return len(p), nil
}
