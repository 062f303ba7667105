package store

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestStoreListPagination(t *testing.T) {
	s, dir, _ := newTestStore(t)
	want := writeRecordsFast(t, dir, 1000, 2500)
	writeRecordsFast(t, dir, 1001, 3) // another uid's keys never show up
	tests := []struct {
		name  string
		limit int
	}{
		{"page-of-1", 1},
		{"page-of-7", 7},
		{"page-of-100", 100},
		{"exact-fit", 2500},
		{"one-page", 5000},
		{"default-limit", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			cursor, pages := "", 0
			for {
				recs, next, err := s.List(1000, cursor, tt.limit)
				if err != nil {
					t.Fatalf("List(page %d) = %v", pages, err)
				}
				if limit := cmp.Or(tt.limit, DefaultListLimit); len(recs) > limit {
					t.Fatalf("List(limit %d) returned %d records, want at most %d", tt.limit, len(recs), limit)
				}
				for _, r := range recs {
					if r.OwnerUID != 1000 {
						t.Fatalf("List(1000) returned a record of uid %d", r.OwnerUID)
					}
					got = append(got, r.Alias)
				}
				pages++
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("List pages = %d aliases (first %q), want the %d aliases once each, in order", len(got), got[:min(3, len(got))], len(want))
			}
		})
	}
	if got := len(s.cache.m); got != 0 {
		t.Errorf("record cache holds %d entries after List, want 0", got)
	}
}

// TestStoreListChanges creates and deletes keys between pages: the listing
// cache must follow.
func TestStoreListChanges(t *testing.T) {
	s, _, _ := newTestStore(t)
	for _, a := range []string{"b", "d", "f"} {
		if err := s.Create(testRecord(1000, a), 0); err != nil {
			t.Fatal(err)
		}
	}
	recs, next, err := s.List(1000, "", 2) // b, d
	if err != nil || len(recs) != 2 || next == "" {
		t.Fatalf("List(first page) = %d records, %q, %v, want 2 and a cursor", len(recs), next, err)
	}
	if err := s.Create(testRecord(1000, "a"), 0); err != nil { // before the cursor: not seen
		t.Fatal(err)
	}
	if err := s.Create(testRecord(1000, "e"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(1000, "d"); err != nil { // the cursor's own alias
		t.Fatal(err)
	}
	recs, next, err = s.List(1000, next, 10)
	var got []string
	for _, r := range recs {
		got = append(got, r.Alias)
	}
	if err != nil || next != "" || !slices.Equal(got, []string{"e", "f"}) {
		t.Errorf("List(second page) = %q, %q, %v, want [e f] and no cursor", got, next, err)
	}
}

func TestStoreListErrors(t *testing.T) {
	s, dir, _ := newTestStore(t)
	writeRecordsFast(t, dir, 1000, 3)
	tests := []struct {
		name   string
		uid    uint32
		cursor string
		want   error
		n      int
	}{
		{"no-keys", 5, "", nil, 0},
		{"not-base64", 1000, "!!", ErrInvalidCursor, 0},
		{"invalid-alias-inside", 1000, encodeCursor("../x"), ErrInvalidCursor, 0},
		{"too-long", 1000, encodeCursor(string(make([]byte, 200))), ErrInvalidCursor, 0},
		{"after-last", 1000, encodeCursor("zzz"), nil, 0},
		{"between", 1000, encodeCursor("k000000a"), nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, next, err := s.List(tt.uid, tt.cursor, 10)
			if !errors.Is(err, tt.want) || len(recs) != tt.n || next != "" {
				t.Errorf("List(%d, %q) = %d records, %q, %v, want %d, \"\", %v", tt.uid, tt.cursor, len(recs), next, err, tt.n, tt.want)
			}
		})
	}
}

// TestStoreListSkipsInvalid: a refused record is skipped, the rest listed.
func TestStoreListSkipsInvalid(t *testing.T) {
	s, dir, logs := newTestStore(t)
	aliases := writeRecordsFast(t, dir, 1000, 5)
	writeOver(t, filepath.Join(dir, "keys", "1000", aliases[2]+".key"), []byte("garbage"))
	os.WriteFile(filepath.Join(dir, "keys", "1000", "README"), []byte("not a record"), 0o600)
	recs, next, err := s.List(1000, "", 10)
	if err != nil || len(recs) != 4 || next != "" || containsAlias(recs, aliases[2]) {
		t.Errorf("List = %d records, %q, %v, want 4 without %q", len(recs), next, err, aliases[2])
	}
	if !strings.Contains(logs.String(), "alias="+aliases[2]) {
		t.Errorf("log does not name the refused record %q", aliases[2])
	}
}
