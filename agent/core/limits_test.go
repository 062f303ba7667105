package core

import "testing"

func TestConnCounter(t *testing.T) {
	lim := Limits{MaxConnections: 5, MaxConnectionsPerUID: 2, AdminReserved: 1}
	c := newConnCounter()
	tests := []struct {
		name  string
		owner uint32
		admin bool
		want  bool
	}{
		{"owner-1-first", 1, false, true},
		{"owner-1-second", 1, false, true},
		{"owner-1-over-its-limit", 1, false, false},
		{"owner-2-still-served", 2, false, true},
		{"owner-2-second", 2, false, true},
		{"owner-3-over-total", 3, false, false},
		{"admin-takes-the-reserved-slot", 0, true, true},
		{"admin-over-total", 4, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.acquire(tc.owner, tc.admin, lim); got != tc.want {
				t.Errorf("acquire(%d, admin %v) = %v, want %v", tc.owner, tc.admin, got, tc.want)
			}
		})
	}
	c.release(1) // total 4 of 5, but the fifth is the admins'
	if c.acquire(3, false, lim) {
		t.Errorf("acquire(3) into the admin-reserved slot = true, want false")
	}
	c.release(0)
	if !c.acquire(3, false, lim) {
		t.Errorf("acquire(3) after two releases = false, want true")
	}
}
