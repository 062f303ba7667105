package core

import (
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// maxLoggedLen bounds a caller-chosen string in logs and audit records
// (the longest valid alias; a 900 KB invalid alias once made a 1.8 MB
// journal entry).
const maxLoggedLen = MaxAliasLen

// logValue makes a caller-chosen string safe to log: at most maxLoggedLen
// bytes (then "...+N" with the bytes left out), and escaped Go-style when
// it holds anything unprintable (an ANSI escape, a newline, bad UTF-8).
func logValue(s string) string {
	cut := 0
	if len(s) > maxLoggedLen {
		cut = len(s) - maxLoggedLen
		s = s[:maxLoggedLen]
	}
	if !printable(s) {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	if cut > 0 {
		s += "...+" + strconv.Itoa(cut)
	}
	return s
}

func printable(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || !unicode.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}

// Refusal logging per owner: a burst, then a steady rate; what is held
// back is counted and reported on the next line that is written.
const (
	refusalLogRate  = 10 // lines per second per owner
	refusalLogBurst = 50
	maxLogOwners    = 4096 // owners tracked at once; past it the table starts over
)

// refusalLog keeps one owner's refusals (audit records of failed
// requests, refused connections, failure log lines) from flooding the
// journal, which journald rate-limits per service: a flood from one uid
// would otherwise make it drop everyone's records. Successful requests
// are always audited.
type refusalLog struct {
	mu     sync.Mutex
	owners map[uint32]*ownerLog // guarded by mu
}

type ownerLog struct {
	lim        *rate.Limiter
	suppressed int
}

func newRefusalLog() *refusalLog { return &refusalLog{owners: map[uint32]*ownerLog{}} }

// allow reports whether owner's next refusal line may be written, and how
// many were held back since the last one that was.
func (l *refusalLog) allow(owner uint32) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.owners[owner]
	if o == nil {
		if len(l.owners) >= maxLogOwners {
			clear(l.owners)
		}
		o = &ownerLog{lim: rate.NewLimiter(refusalLogRate, refusalLogBurst)}
		l.owners[owner] = o
	}
	if !o.lim.AllowN(time.Now(), 1) {
		o.suppressed++
		return false, 0
	}
	n := o.suppressed
	o.suppressed = 0
	return true, n
}
