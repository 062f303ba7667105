package core

import "testing"

func TestOwnerMap(t *testing.T) {
	lookup := func(name string) (uint32, bool) {
		switch name {
		case "alice":
			return 1000, true
		case "2000":
			return 2000, true
		}
		return 0, false
	}
	m, err := parseOwnerMap([]byte("# comment\nalice:100000:65536\n2000:165536:65536\nghost:300000:10\n"), lookup)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uid, want uint32
	}{
		{0, 0}, {1000, 1000}, {99999, 99999}, {100000, 1000}, {165535, 1000},
		{165536, 2000}, {231071, 2000}, {231072, 231072}, {300005, 300005},
	} {
		if got := m.owner(tc.uid); got != tc.want {
			t.Errorf("owner(%d) = %d, want %d", tc.uid, got, tc.want)
		}
	}
	if !m.hasSubordinates(1000) || m.hasSubordinates(0) {
		t.Errorf("hasSubordinates(1000, 0) = %v, %v, want true, false", m.hasSubordinates(1000), m.hasSubordinates(0))
	}
	for _, bad := range []string{"alice:1", "alice:x:1", "alice:1:0"} {
		if _, err := parseOwnerMap([]byte(bad), lookup); err == nil {
			t.Errorf("parseOwnerMap(%q) = nil error, want one", bad)
		}
	}
}
