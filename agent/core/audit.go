package core

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// auditRecord is what one request leaves in the audit trail. It has no
// field for a secret, a PIN or a plaintext, so none can be logged.
//
// Every caller-chosen string in it (Alias, Caller.Comm) has been through
// logValue: bounded and escaped, so that a record cannot be forged or
// made huge. TargetUID is the namespace an admin acted on, when not the
// caller's own; Suppressed counts the caller's refusals held back since
// its last written one (refusalLog).
type auditRecord struct {
	Op         protocol.Op
	Caller     *Caller
	Alias      string
	KeyID      []byte
	TargetUID  *uint32
	Status     protocol.Status
	Dur        time.Duration
	Suppressed int
	// KeyVersion and Context are a symmetric-key operation's version and
	// encryption context (a JSON object of logValue'd strings, bounded).
	KeyVersion uint32
	Context    string
}

// auditor writes exactly one record per request.
type auditor interface {
	record(r *auditRecord)
}

// NewSettings builds the settings of a validated cfg: its audit sink
// (override, when set, is a logger that takes every record, for tests;
// stderr is where text or JSON records go) and its owner map.
func NewSettings(cfg Config, override *slog.Logger, stderr io.Writer) (*Settings, error) {
	owners, err := loadOwnerMap(cfg.SubUIDFile)
	if err != nil {
		return nil, fmt.Errorf("%w: subuid_file %s: %w", ErrInvalidConfig, cfg.SubUIDFile, err)
	}
	return &Settings{cfg: cfg, owners: owners, audit: newAuditor(cfg.Audit.Format, override, stderr)}, nil
}

// Config is the configuration the settings were built from.
func (s *Settings) Config() Config { return s.cfg }

// newAuditor picks the sink: the given logger (tests), the journal, or
// stderr as JSON or text. "auto" means the journal when systemd connected
// stderr to it (JOURNAL_STREAM), else text.
func newAuditor(format string, override *slog.Logger, stderr io.Writer) auditor {
	if override != nil {
		return slogAuditor{override}
	}
	stderr = newBatchWriter(stderr)
	useJournal := format == "journal" ||
		((format == "auto" || format == "") && os.Getenv("JOURNAL_STREAM") != "" && journal.Enabled())
	switch {
	case useJournal:
		return journalAuditor{fallback: slog.New(slog.NewTextHandler(stderr, nil))}
	case format == "json":
		return slogAuditor{slog.New(slog.NewJSONHandler(stderr, nil))}
	default:
		return newTextAuditor(stderr)
	}
}

type slogAuditor struct{ log *slog.Logger }

func (a slogAuditor) record(r *auditRecord) {
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "request", auditAttrs(r)...)
}

func auditAttrs(r *auditRecord) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("op", r.Op.String()),
		slog.Uint64("uid", uint64(r.Caller.UID)),
		slog.Uint64("gid", uint64(r.Caller.GID)),
		slog.Int64("pid", int64(r.Caller.PID)),
		slog.String("comm", r.Caller.Comm),
		slog.Bool("comm_verified", r.Caller.CommVerified),
		slog.String("alias", r.Alias),
		slog.String("key_id", hex.EncodeToString(r.KeyID)),
	}
	if r.TargetUID != nil {
		attrs = append(attrs, slog.Uint64("target_uid", uint64(*r.TargetUID)))
	}
	if r.KeyVersion != 0 {
		attrs = append(attrs, slog.Uint64("key_version", uint64(r.KeyVersion)))
	}
	if r.Context != "" {
		attrs = append(attrs, slog.String("context", r.Context))
	}
	attrs = append(attrs, slog.String("status", r.Status.String()), slog.Duration("dur", r.Dur))
	if r.Suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", r.Suppressed))
	}
	return attrs
}

// textAuditor writes the line slog's TextHandler would write, by hand:
// slog's general path (caller PC, attribute slices, a quoting scan of
// every value) cost ~8 µs per request, a fifth of the daemon's own work
// on a hot sign. A record with a string that slog would quote goes
// through slog itself, so the output is the same either way.
type textAuditor struct {
	w    io.Writer
	slow slogAuditor
	bufs sync.Pool // *[]byte
}

func newTextAuditor(w io.Writer) *textAuditor {
	a := &textAuditor{w: w, slow: slogAuditor{slog.New(slog.NewTextHandler(w, nil))}}
	a.bufs.New = func() any { b := make([]byte, 0, 256); return &b }
	return a
}

func (a *textAuditor) record(r *auditRecord) {
	now := time.Now()
	op, status := r.Op.String(), r.Status.String()
	if !plain(op) || !plain(status) || !plain(r.Caller.Comm) || (r.Alias != "" && !plain(r.Alias)) || r.Context != "" {
		a.slow.record(r)
		return
	}
	bp := a.bufs.Get().(*[]byte)
	b := appendAuditLine((*bp)[:0], now, op, status, r)
	a.w.Write(b) // like slog, a failed audit write is not the request's failure
	*bp = b[:0]
	a.bufs.Put(bp)
}

// appendAuditLine appends the record as slog.TextHandler formats it, for
// strings that need no quoting.
func appendAuditLine(b []byte, now time.Time, op, status string, r *auditRecord) []byte {
	b = append(b, "time="...)
	b = now.Truncate(time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	b = append(b, " level=INFO msg=request op="...)
	b = append(b, op...)
	b = strconv.AppendUint(append(b, " uid="...), uint64(r.Caller.UID), 10)
	b = strconv.AppendUint(append(b, " gid="...), uint64(r.Caller.GID), 10)
	b = strconv.AppendInt(append(b, " pid="...), int64(r.Caller.PID), 10)
	b = append(append(b, " comm="...), r.Caller.Comm...)
	b = strconv.AppendBool(append(b, " comm_verified="...), r.Caller.CommVerified)
	b = appendMaybeEmpty(append(b, " alias="...), r.Alias)
	b = append(b, " key_id="...)
	if len(r.KeyID) == 0 {
		b = append(b, `""`...)
	} else {
		b = hex.AppendEncode(b, r.KeyID)
	}
	if r.TargetUID != nil {
		b = strconv.AppendUint(append(b, " target_uid="...), uint64(*r.TargetUID), 10)
	}
	if r.KeyVersion != 0 {
		b = strconv.AppendUint(append(b, " key_version="...), uint64(r.KeyVersion), 10)
	}
	b = append(append(b, " status="...), status...)
	b = append(append(b, " dur="...), r.Dur.String()...)
	if r.Suppressed > 0 {
		b = strconv.AppendInt(append(b, " suppressed="...), int64(r.Suppressed), 10)
	}
	return append(b, '\n')
}

func appendMaybeEmpty(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	return append(b, s...)
}

// plain reports a non-empty string of printable ASCII without space, '=',
// '"' or '\': one that slog writes without quotes.
func plain(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '=' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// journalAuditor sends each record as journal fields (one datagram, one
// syscall), falling back to stderr when journald does not take it.
type journalAuditor struct{ fallback *slog.Logger }

// journalMessage is a record's MESSAGE: the operation and status only,
// both from fixed vocabularies; what a caller chose is only ever in the
// structured fields, so that no record can read like another.
func journalMessage(r *auditRecord) string { return r.Op.String() + ": " + r.Status.String() }

func journalFields(r *auditRecord) map[string]string {
	f := map[string]string{
		"SYSLOG_IDENTIFIER": "tpmkeyd",
		"OP":                r.Op.String(),
		"UID":               strconv.FormatUint(uint64(r.Caller.UID), 10),
		"GID":               strconv.FormatUint(uint64(r.Caller.GID), 10),
		"PID":               strconv.FormatInt(int64(r.Caller.PID), 10),
		"COMM":              r.Caller.Comm,
		"COMM_VERIFIED":     strconv.FormatBool(r.Caller.CommVerified),
		"ALIAS":             r.Alias,
		"KEY_ID":            hex.EncodeToString(r.KeyID),
		"STATUS":            r.Status.String(),
		"DUR_US":            strconv.FormatInt(r.Dur.Microseconds(), 10),
	}
	if r.TargetUID != nil {
		f["TARGET_UID"] = strconv.FormatUint(uint64(*r.TargetUID), 10)
	}
	if r.KeyVersion != 0 {
		f["KEY_VERSION"] = strconv.FormatUint(uint64(r.KeyVersion), 10)
	}
	if r.Context != "" {
		f["CONTEXT"] = r.Context
	}
	if r.Suppressed > 0 {
		f["SUPPRESSED"] = strconv.Itoa(r.Suppressed)
	}
	return f
}

func (a journalAuditor) record(r *auditRecord) {
	pri := journal.PriInfo
	if r.Status != protocol.StatusOK {
		pri = journal.PriNotice
	}
	err := journal.Send(journalMessage(r), pri, journalFields(r))
	if err != nil {
		slogAuditor{a.fallback}.record(r)
	}
}

// batchWriter lets concurrent requests share write calls: a record written
// while another goroutine is writing is appended to a buffer, and that
// goroutine writes it before it returns. No record waits for a timer, and
// every record is written by a request the shutdown waits for, so none is
// lost. Each write call carries whole records and at most batchChunk bytes
// (unless one record is larger), so that writes to a pipe stay atomic.
type batchWriter struct {
	w       io.Writer
	mu      sync.Mutex
	buf     []byte
	spare   []byte
	writing bool
}

const batchChunk = 4096 // PIPE_BUF on Linux

func newBatchWriter(w io.Writer) *batchWriter { return &batchWriter{w: w} }

func (b *batchWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	if b.writing {
		b.mu.Unlock()
		return len(p), nil
	}
	b.writing = true
	var err error
	for len(b.buf) > 0 {
		// spare is handed over, not shared: while out is written, buf must
		// never alias it, even when out is too big to be kept as spare.
		out := b.buf
		b.buf, b.spare = b.spare[:0], nil
		b.mu.Unlock()
		if werr := writeRecords(b.w, out); werr != nil {
			err = werr
		}
		b.mu.Lock()
		if cap(out) <= 64<<10 {
			b.spare = out[:0]
		}
	}
	b.writing = false
	b.mu.Unlock()
	return len(p), err
}

// writeRecords writes out, newline-terminated records, in chunks of whole
// records of at most batchChunk bytes.
func writeRecords(w io.Writer, out []byte) error {
	for len(out) > 0 {
		n := len(out)
		if n > batchChunk {
			if i := bytes.LastIndexByte(out[:batchChunk], '\n'); i >= 0 {
				n = i + 1
			} else if i := bytes.IndexByte(out, '\n'); i >= 0 {
				n = i + 1
			}
		}
		if _, err := w.Write(out[:n]); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}
