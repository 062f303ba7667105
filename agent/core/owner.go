package core

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"slices"
	"strconv"
)

// DefaultSubUIDFile lists each login's subordinate uids (subuid(5)).
const DefaultSubUIDFile = "/etc/subuid"

// ownerMap maps a uid to the login that owns it, so that limits follow
// the person and not the numeric uid: a user with the usual 65,536
// subordinate uids who runs `unshare --map-auto --map-root-user` can
// appear as many uids, and each of them counts against that user's
// connections, rate, TPM queue, key quota and memory. Built at start and
// at every reload; immutable after.
type ownerMap struct {
	ranges []subRange // sorted by start, non-overlapping as listed
}

type subRange struct {
	start, count uint64
	owner        uint32
}

// loadOwnerMap reads a subuid(5) file: "name-or-uid:start:count" lines.
// A missing file is an empty map; names unknown to the user database are
// skipped (such uids are then their own owners).
func loadOwnerMap(path string) (*ownerMap, error) {
	if path == "" {
		return &ownerMap{}, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &ownerMap{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("os.ReadFile: %w", err)
	}
	return parseOwnerMap(data, lookupUIDName)
}

func parseOwnerMap(data []byte, lookup func(string) (uint32, bool)) (*ownerMap, error) {
	m := &ownerMap{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := bytes.Split(line, []byte(":"))
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want name:start:count", n)
		}
		start, err1 := strconv.ParseUint(string(f[1]), 10, 32)
		count, err2 := strconv.ParseUint(string(f[2]), 10, 32)
		if err1 != nil || err2 != nil || count == 0 {
			return nil, fmt.Errorf("line %d: bad start or count", n)
		}
		owner, ok := lookup(string(f[0]))
		if !ok {
			continue
		}
		m.ranges = append(m.ranges, subRange{start: start, count: count, owner: owner})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bufio.Scanner: %w", err)
	}
	slices.SortFunc(m.ranges, func(a, b subRange) int { return int(int64(a.start) - int64(b.start)) })
	return m, nil
}

// lookupUIDName resolves a subuid owner field: a user name, or a uid.
func lookupUIDName(name string) (uint32, bool) {
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), true
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, false
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	return uint32(id), err == nil
}

// owner returns the login owning uid: the owner of a subordinate range
// holding uid, else uid itself.
func (m *ownerMap) owner(uid uint32) uint32 {
	if m == nil {
		return uid
	}
	i, _ := slices.BinarySearchFunc(m.ranges, uint64(uid), func(r subRange, u uint64) int {
		switch {
		case r.start+r.count <= u:
			return -1
		case r.start > u:
			return 1
		}
		return 0
	})
	if i < len(m.ranges) && uint64(uid) >= m.ranges[i].start && uint64(uid) < m.ranges[i].start+m.ranges[i].count {
		return m.ranges[i].owner
	}
	return uid
}

// hasSubordinates reports whether owner has any subordinate range.
func (m *ownerMap) hasSubordinates(owner uint32) bool {
	if m == nil {
		return false
	}
	for _, r := range m.ranges {
		if r.owner == owner {
			return true
		}
	}
	return false
}
