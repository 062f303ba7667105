package core

import (
	"strings"
	"testing"
)

func TestLogValue(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "web-1", "web-1"},
		{"utf8", "clé", "clé"},
		{"ansi-escape", "\x1b[31mred", `\x1b[31mred`},
		{"forged-line", "x\nGetKey uid=0 alias=db-password status=OK", `x\nGetKey uid=0 alias=db-password status=OK`},
		{"bad-utf8", "a\xffb", `a\xffb`},
		{"long", strings.Repeat("a", 900_000), strings.Repeat("a", maxLoggedLen) + "...+" + "899872"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := logValue(tc.in); got != tc.want {
				t.Errorf("logValue(%.20q) = %.60q, want %.60q", tc.in, got, tc.want)
			}
		})
	}
}

func TestRefusalLog(t *testing.T) {
	l := newRefusalLog()
	written := 0
	for range refusalLogBurst + 100 {
		if ok, _ := l.allow(1); ok {
			written++
		}
	}
	if written > refusalLogBurst+5 {
		t.Errorf("owner 1 wrote %d refusal lines in a burst, want about %d", written, refusalLogBurst)
	}
	if ok, n := l.allow(2); !ok || n != 0 {
		t.Errorf("owner 2 allow() = %v, %d after owner 1's flood, want true, 0", ok, n)
	}
}
