package store

// MaxAliasLen is the longest alias, in bytes.
const MaxAliasLen = 128

// ValidAlias reports whether alias is 1–128 bytes of [A-Za-z0-9._-] not
// starting with '.'. Only a valid alias is ever turned into a file name, so
// no alias can name a path outside its owner's directory.
func ValidAlias(alias string) bool {
	if len(alias) == 0 || len(alias) > MaxAliasLen || alias[0] == '.' {
		return false
	}
	for i := 0; i < len(alias); i++ {
		if !aliasByte(alias[i]) {
			return false
		}
	}
	return true
}

func aliasByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '.' || c == '_' || c == '-'
}
