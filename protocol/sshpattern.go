package protocol

// MatchSSHPattern is OpenSSH's match_pattern, used by the user and host
// names of ssh destination constraints (6.29): * matches any run of
// characters, ? any one character, everything else itself.
func MatchSSHPattern(s, pattern string) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if pattern == "" {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if MatchSSHPattern(s[i:], pattern) {
					return true
				}
			}
			return false
		case '?':
			if s == "" {
				return false
			}
		default:
			if s == "" || s[0] != pattern[0] {
				return false
			}
		}
		s, pattern = s[1:], pattern[1:]
	}
	return s == ""
}
