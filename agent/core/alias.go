package core

import "github.com/tpmkeyd/tpmkeyd/agent/store"

// MaxAliasLen is the longest alias, in bytes.
const MaxAliasLen = store.MaxAliasLen

// ValidAlias reports whether alias is a valid key alias; see store.ValidAlias.
func ValidAlias(alias string) bool { return store.ValidAlias(alias) }
