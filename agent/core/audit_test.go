package core

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// recordingWriter keeps every write call.
type recordingWriter struct {
	mu     sync.Mutex
	writes [][]byte
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestBatchWriter: concurrent records all come out, once each, whole, in
// each writer's order, in writes of at most batchChunk bytes.
func TestBatchWriter(t *testing.T) {
	for _, tc := range []struct {
		name              string
		goroutines, lines int
		lineLen           int
	}{
		{"serial", 1, 100, 80},
		{"concurrent", 16, 200, 120},
		{"long-records", 4, 20, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rw := &recordingWriter{}
			bw := newBatchWriter(rw)
			var wg sync.WaitGroup
			for g := range tc.goroutines {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.lines {
						head := fmt.Sprintf("g=%d i=%d ", g, i)
						line := head + strings.Repeat("x", tc.lineLen-len(head)-1) + "\n"
						if _, err := bw.Write([]byte(line)); err != nil {
							t.Errorf("Write() = %v, want nil", err)
						}
					}
				}()
			}
			wg.Wait()
			next := make([]int, tc.goroutines)
			total := 0
			for _, w := range rw.writes {
				if len(w) > batchChunk && bytes.Count(w, []byte("\n")) > 1 {
					t.Errorf("a write of %d bytes holds %d records, want at most %d bytes", len(w), bytes.Count(w, []byte("\n")), batchChunk)
				}
				if len(w) == 0 || w[len(w)-1] != '\n' {
					t.Fatalf("write %q does not end a record", w)
				}
				for _, line := range strings.Split(strings.TrimSuffix(string(w), "\n"), "\n") {
					var g, i int
					if _, err := fmt.Sscanf(line, "g=%d i=%d ", &g, &i); err != nil || len(line) != tc.lineLen-1 {
						t.Fatalf("record %q is damaged", line)
					}
					if i != next[g] {
						t.Fatalf("goroutine %d: record %d after %d, want %d", g, i, next[g]-1, next[g])
					}
					next[g]++
					total++
				}
			}
			if want := tc.goroutines * tc.lines; total != want {
				t.Errorf("records written = %d, want %d", total, want)
			}
		})
	}
}

// TestTextAuditorMatchesSlog: the hand-written audit line is the line
// slog's TextHandler writes for the same record, and records with strings
// slog would quote go through slog.
func TestTextAuditorMatchesSlog(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 4, 5, 987654321, time.UTC)
	caller := func(comm string) *Caller { return &Caller{UID: 1000, GID: 100, PID: 4242, Comm: comm} }
	for _, tc := range []struct {
		name string
		rec  auditRecord
		fast bool
	}{
		{"sign", auditRecord{Op: protocol.OpSign, Caller: caller("tpmkey-bench"), Alias: "hot", KeyID: []byte{0xab, 0xcd}, Status: protocol.StatusOK, Dur: 512345 * time.Nanosecond}, true},
		{"no-alias-no-key", auditRecord{Op: protocol.OpStatus, Caller: caller("ssh"), Status: protocol.StatusOK, Dur: 3 * time.Microsecond}, true},
		{"error-status", auditRecord{Op: protocol.OpGetKey, Caller: caller("x"), Alias: "a.b_c-d/e:f@g+1", Status: protocol.StatusKeyNotFound, Dur: 2 * time.Second}, true},
		{"root", auditRecord{Op: protocol.OpHello, Caller: &Caller{Comm: "init"}, Status: protocol.StatusOK}, true},
		{"comm-with-space", auditRecord{Op: protocol.OpSign, Caller: caller("my app"), Alias: "k", Status: protocol.StatusOK, Dur: time.Millisecond}, false},
		{"comm-empty", auditRecord{Op: protocol.OpSign, Caller: caller(""), Alias: "k", Status: protocol.StatusOK}, false},
		{"alias-quote", auditRecord{Op: protocol.OpSign, Caller: caller("c"), Alias: `a"b`, Status: protocol.StatusOK}, false},
		{"alias-equals", auditRecord{Op: protocol.OpSign, Caller: caller("c"), Alias: "a=b", Status: protocol.StatusOK}, false},
		{"alias-utf8", auditRecord{Op: protocol.OpSign, Caller: caller("c"), Alias: "clé", Status: protocol.StatusOK}, false},
		{"unknown-op", auditRecord{Op: protocol.Op(0x7777), Caller: caller("c"), Status: protocol.StatusUnknownOp}, plain(protocol.Op(0x7777).String())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want bytes.Buffer
			rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			rec.AddAttrs(auditAttrs(&tc.rec)...)
			if err := slog.NewTextHandler(&want, nil).Handle(context.Background(), rec); err != nil {
				t.Fatal(err)
			}
			op, status := tc.rec.Op.String(), tc.rec.Status.String()
			fast := plain(op) && plain(status) && plain(tc.rec.Caller.Comm) && (tc.rec.Alias == "" || plain(tc.rec.Alias))
			if fast != tc.fast {
				t.Fatalf("fast path for %+v = %v, want %v", tc.rec, fast, tc.fast)
			}
			if !fast {
				return // slog writes it
			}
			if got := appendAuditLine(nil, at, op, status, &tc.rec); string(got) != want.String() {
				t.Errorf("appendAuditLine() = %q, want %q (slog)", got, want.String())
			}
		})
	}
	// Through record(): one line per record, either path.
	var buf bytes.Buffer
	a := newTextAuditor(&buf)
	a.record(&auditRecord{Op: protocol.OpSign, Caller: caller("fast"), Alias: "k", Status: protocol.StatusOK})
	a.record(&auditRecord{Op: protocol.OpSign, Caller: caller("slow path"), Alias: "k", Status: protocol.StatusOK})
	if n := strings.Count(buf.String(), "\n"); n != 2 || !strings.Contains(buf.String(), `comm="slow path"`) {
		t.Errorf("textAuditor.record twice wrote %q, want 2 lines, the second quoted", buf.String())
	}
}
