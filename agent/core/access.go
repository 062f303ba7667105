package core

import (
	"fmt"
	"slices"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
)

// Settings is the validated Config in force plus what derives from it.
// Requests read the current one through an atomic pointer, so a reload
// never blocks them, and a request keeps the settings it started with.
type Settings struct {
	cfg    Config
	audit  auditor
	owners *ownerMap // from cfg.SubUIDFile
}

// mayConnect reports whether c may use the agent at all (allow_users,
// allow_groups; root and admins always may).
func (s *Settings) mayConnect(c *Caller) bool {
	return s.cfg.Allowed(c.UID, c.GID, c.Groups)
}

// isAdmin reports whether c may act on other uids' namespaces.
func (s *Settings) isAdmin(c *Caller) bool {
	return s.cfg.IsAdmin(c.UID, c.Groups)
}

// namespace returns the uid whose keys a request acts on. Without an
// explicit uid it is the caller's own; naming another uid needs an admin.
func (s *Settings) namespace(c *Caller, uid *uint32) (uint32, error) {
	if uid == nil || *uid == c.UID {
		return c.UID, nil
	}
	if !s.isAdmin(c) {
		return 0, fmt.Errorf("namespace of uid %d: %w", *uid, ErrPermissionDenied)
	}
	return *uid, nil
}

// checkAlias refuses an alias that could not name a record file.
func checkAlias(alias string) error {
	if !ValidAlias(alias) {
		return ErrInvalidAlias
	}
	return nil
}

// checkPurpose refuses, before the TPM is asked, an operation the key was
// not made for.
func checkPurpose(r *store.Record, purpose string) error {
	if !slices.Contains(r.Purposes, purpose) {
		return fmt.Errorf("key %q is not a %s key: %w", r.Alias, purpose, ErrIncompatiblePurpose)
	}
	return nil
}
