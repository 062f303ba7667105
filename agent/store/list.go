package store

import (
	"encoding/base64"
	"errors"
	"slices"
)

// DefaultListLimit is the page size List uses when asked for limit <= 0.
const DefaultListLimit = 100

// List returns up to limit records of uid sorted by alias, starting after
// cursor (opaque; "" = start), and the next cursor ("" when done).
// Invalid records are skipped and logged at warning level, so a page may
// hold fewer than limit records while the cursor is not yet "".
//
// The sorted listing is cached per uid and kept up to date by Create and
// Delete, so each page costs only the reads of its own records. Records
// read here are not added to the cache: listing 100,000 keys must not pin
// them all in memory.
func (s *Store) List(uid uint32, cursor string, limit int) ([]*Record, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	if limit <= 0 {
		limit = DefaultListLimit
	}
	page, more, err := s.listNames(uid, after, limit)
	if err != nil {
		return nil, "", err
	}
	recs := make([]*Record, 0, len(page))
	for _, alias := range page {
		r, err := s.peek(uid, alias)
		switch {
		case errors.Is(err, ErrKeyNotFound), errors.Is(err, ErrKeyInvalidated):
			continue // deleted meanwhile, or refused and logged
		case err != nil:
			return nil, "", err
		}
		recs = append(recs, r)
	}
	next := ""
	if more {
		next = encodeCursor(page[len(page)-1])
	}
	return recs, next, nil
}

// listNames copies up to limit aliases after the given one out of uid's
// sorted listing, and says whether more follow.
func (s *Store) listNames(uid uint32, after string, limit int) ([]string, bool, error) {
	d, err := s.loadedDir(uid)
	if err != nil {
		return nil, false, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	i := 0
	if after != "" {
		var found bool
		if i, found = slices.BinarySearch(d.names, after); found {
			i++
		}
	}
	end := min(i+limit, len(d.names))
	return slices.Clone(d.names[i:end]), end < len(d.names), nil
}

// peek is Get without filling the cache.
func (s *Store) peek(uid uint32, alias string) (*Record, error) {
	r, vanished := s.cached(recordKey{uid, alias})
	if r != nil {
		return r, nil
	}
	if vanished {
		s.relist(uid)
	}
	r, _, err := s.read(uid, alias)
	return r, err
}

// CursorAfter is the cursor of a page that ends with alias: List resumes
// after it. A caller that sends fewer records than List gave uses it.
func CursorAfter(alias string) string { return encodeCursor(alias) }

// A cursor is the last alias of the previous page, base64url-encoded so that
// clients treat it as opaque.
func encodeCursor(alias string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(alias))
}

func decodeCursor(cursor string) (string, error) {
	if cursor == "" {
		return "", nil
	}
	if len(cursor) > base64.RawURLEncoding.EncodedLen(MaxAliasLen) {
		return "", ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !ValidAlias(string(b)) {
		return "", ErrInvalidCursor
	}
	return string(b), nil
}
