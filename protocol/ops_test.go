package protocol

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// opTableMarkdown renders the operation table as docs/PROTOCOL.md §6.1
// shows it.
func opTableMarkdown() string {
	var b strings.Builder
	b.WriteString("| opcode | operation | key purpose | status |\n")
	b.WriteString("| ------ | --------- | ----------- | ------ |\n")
	b.WriteString("| 0 | — | — | never a request; used in connection-level error responses |\n")
	next := Op(1)
	for _, s := range AllOps() {
		if s.Op > next {
			fmt.Fprintf(&b, "| %s | — | — | unassigned |\n", opRange(next, s.Op-1))
		}
		purpose, status := "—", "version 1"
		if s.Purpose != "" {
			purpose = "`" + s.Purpose + "`"
		}
		if s.Reserved {
			status = "reserved"
			if s.Doc != "" {
				status += ": " + s.Doc
			}
		}
		fmt.Fprintf(&b, "| %d | `%s` | %s | %s |\n", s.Op, s.Name, purpose, status)
		next = s.Op + 1
	}
	fmt.Fprintf(&b, "| %d–65535 | — | — | unassigned |\n", next)
	return b.String()
}

func opRange(lo, hi Op) string {
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d–%d", lo, hi)
}

// TestOpTableInDocs checks docs/PROTOCOL.md §6.1 against the operation
// table, as TestGoldenInDocs does for the vectors.
func TestOpTableInDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatalf("read PROTOCOL.md: %v", err)
	}
	if want := opTableMarkdown(); !strings.Contains(string(doc), want) {
		t.Errorf("docs/PROTOCOL.md §6.1 does not show the operation table; want:\n%s", want)
	}
}

func TestOpTable(t *testing.T) {
	seen := map[Op]bool{}
	names := map[string]bool{}
	prev := Op(0)
	for _, s := range AllOps() {
		if s.Op <= prev {
			t.Errorf("opcode %d (%s) out of order after %d", s.Op, s.Name, prev)
		}
		prev = s.Op
		if seen[s.Op] || names[s.Name] {
			t.Errorf("opcode %d or name %q appears twice", s.Op, s.Name)
		}
		seen[s.Op], names[s.Name] = true, true
		if s.Reserved {
			continue
		}
		req, resp := s.NewRequest(), s.NewResponse()
		if reflect.TypeOf(req).Elem() != s.RequestType() {
			t.Errorf("%s: NewRequest() is %T, want *%v", s.Name, req, s.RequestType())
		}
		if got, ok := OpOfRequest(s.RequestType()); !ok || got != s.Op {
			t.Errorf("OpOfRequest(%v) = %v, %v, want %v", s.RequestType(), got, ok, s.Op)
		}
		if want := s.Name + "Request"; reflect.TypeOf(req).Elem().Name() != want {
			t.Errorf("%s: request type %T, want %s", s.Name, req, want)
		}
		if want := s.Name + "Response"; reflect.TypeOf(resp).Elem().Name() != want {
			t.Errorf("%s: response type %T, want %s", s.Name, resp, want)
		}
	}
}
