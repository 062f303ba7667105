package core

import (
	"fmt"
	"os/user"
	"slices"
	"strconv"
)

// accessIDs is the numeric form of the access settings of a Config.
type accessIDs struct {
	adminGID    uint32
	hasAdmin    bool
	allowUIDs   []uint32
	allowGIDs   []uint32
	restricting bool // allow_users or allow_groups was given
}

// IsAdmin reports whether a caller may list and delete keys across uids:
// root always may, and so may members of admin_group. gids holds the
// caller's primary and supplementary groups.
func (c *Config) IsAdmin(uid uint32, gids []uint32) bool {
	if uid == 0 {
		return true
	}
	ids := c.access()
	return ids.hasAdmin && slices.Contains(gids, ids.adminGID)
}

// Allowed reports whether a caller may use the agent at all. With neither
// allow_users nor allow_groups set everyone may; otherwise the uid must be
// listed, or the primary gid or one of the supplementary groups. Admins
// (IsAdmin) are always allowed.
func (c *Config) Allowed(uid, gid uint32, groups []uint32) bool {
	all := append([]uint32{gid}, groups...)
	if c.IsAdmin(uid, all) {
		return true
	}
	ids := c.access()
	if !ids.restricting {
		return true
	}
	if slices.Contains(ids.allowUIDs, uid) {
		return true
	}
	for _, g := range all {
		if slices.Contains(ids.allowGIDs, g) {
			return true
		}
	}
	return false
}

// access returns the ids resolved by Validate. A Config that was built by
// hand and never validated resolves them now, skipping unknown names, so
// an unknown name grants nothing.
func (c *Config) access() *accessIDs {
	if c.ids != nil {
		return c.ids
	}
	ids, err := resolveAccess(c.AdminGroup, c.AllowUsers, c.AllowGroups)
	if err != nil {
		return &accessIDs{restricting: len(c.AllowUsers)+len(c.AllowGroups) > 0}
	}
	return ids
}

func resolveAccess(adminGroup string, users, groups []string) (*accessIDs, error) {
	ids := &accessIDs{restricting: len(users)+len(groups) > 0}
	if adminGroup != "" {
		gid, err := LookupGID(adminGroup)
		if err != nil {
			return nil, fieldError("admin_group", "%v", err)
		}
		ids.adminGID, ids.hasAdmin = gid, true
	}
	for i, name := range users {
		uid, err := lookupUID(name)
		if err != nil {
			return nil, fieldError(fmt.Sprintf("allow_users[%d]", i), "%v", err)
		}
		ids.allowUIDs = append(ids.allowUIDs, uid)
	}
	for i, name := range groups {
		gid, err := LookupGID(name)
		if err != nil {
			return nil, fieldError(fmt.Sprintf("allow_groups[%d]", i), "%v", err)
		}
		ids.allowGIDs = append(ids.allowGIDs, gid)
	}
	return ids, nil
}

// lookupUID accepts a user name or a numeric uid; a numeric uid need not
// exist in the user database (containers, DynamicUser, LDAP outages).
func lookupUID(name string) (uint32, error) {
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("user.Lookup: %w", err)
	}
	id, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has a non-numeric uid %q", name, u.Uid)
	}
	return uint32(id), nil
}

func LookupGID(name string) (uint32, error) {
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("user.LookupGroup: %w", err)
	}
	id, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("group %q has a non-numeric gid %q", name, g.Gid)
	}
	return uint32(id), nil
}
