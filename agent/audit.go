package agent

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// auditRecord is what one request leaves in the audit trail. It has no
// field for a secret, a PIN or a plaintext, so none can be logged.
type auditRecord struct {
	Op     protocol.Op
	Caller *Caller
	Alias  string
	KeyID  []byte
	Status protocol.Status
	Dur    time.Duration
}

// auditor writes exactly one record per request.
type auditor interface {
	record(r *auditRecord)
}

// newAuditor picks the sink: the given logger (tests), the journal, or
// stderr as JSON or text. "auto" means the journal when systemd connected
// stderr to it (JOURNAL_STREAM), else text.
func newAuditor(format string, override *slog.Logger, stderr io.Writer) auditor {
	if override != nil {
		return slogAuditor{override}
	}
	useJournal := format == "journal" ||
		((format == "auto" || format == "") && os.Getenv("JOURNAL_STREAM") != "" && journal.Enabled())
	switch {
	case useJournal:
		return journalAuditor{fallback: slog.New(slog.NewTextHandler(stderr, nil))}
	case format == "json":
		return slogAuditor{slog.New(slog.NewJSONHandler(stderr, nil))}
	default:
		return slogAuditor{slog.New(slog.NewTextHandler(stderr, nil))}
	}
}

type slogAuditor struct{ log *slog.Logger }

func (a slogAuditor) record(r *auditRecord) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("op", r.Op.String()),
		slog.Uint64("uid", uint64(r.Caller.UID)),
		slog.Uint64("gid", uint64(r.Caller.GID)),
		slog.Int64("pid", int64(r.Caller.PID)),
		slog.String("comm", r.Caller.Comm),
		slog.String("alias", r.Alias),
		slog.String("key_id", hex.EncodeToString(r.KeyID)),
		slog.String("status", r.Status.String()),
		slog.Duration("dur", r.Dur),
	)
}

// journalAuditor sends each record as journal fields (one datagram, one
// syscall), falling back to stderr when journald does not take it.
type journalAuditor struct{ fallback *slog.Logger }

func (a journalAuditor) record(r *auditRecord) {
	msg := r.Op.String() + " uid=" + strconv.FormatUint(uint64(r.Caller.UID), 10) +
		" alias=" + r.Alias + " status=" + r.Status.String()
	pri := journal.PriInfo
	if r.Status != protocol.StatusOK {
		pri = journal.PriNotice
	}
	err := journal.Send(msg, pri, map[string]string{
		"SYSLOG_IDENTIFIER": "tpmkeyd",
		"OP":                r.Op.String(),
		"UID":               strconv.FormatUint(uint64(r.Caller.UID), 10),
		"GID":               strconv.FormatUint(uint64(r.Caller.GID), 10),
		"PID":               strconv.FormatInt(int64(r.Caller.PID), 10),
		"COMM":              r.Caller.Comm,
		"ALIAS":             r.Alias,
		"KEY_ID":            hex.EncodeToString(r.KeyID),
		"STATUS":            r.Status.String(),
		"DUR_US":            strconv.FormatInt(r.Dur.Microseconds(), 10),
	})
	if err != nil {
		slogAuditor{a.fallback}.record(r)
	}
}
