package main

import (
	"bytes"
	"strings"
	"testing"
)

const rootHelp = `Use keys held by tpmkeyd.

Usage:
  tpmkey [command]

Available Commands:
  completion  Generate the autocompletion script
  help        Help about any command
  keygen      Create a key

Flags:
  -h, --help   help for tpmkey
      --json   JSON output

Use "tpmkey [command] --help" for more information about a command.
`

func TestParseHelp(t *testing.T) {
	c := parseHelp(rootHelp)
	if c.description != "Use keys held by tpmkeyd." {
		t.Errorf("description = %q, want the first paragraph", c.description)
	}
	var titles []string
	for _, s := range c.sections {
		titles = append(titles, s.title)
	}
	if got := strings.Join(titles, ","); got != "Usage,Available Commands,Flags" {
		t.Errorf("sections = %s, want Usage,Available Commands,Flags", got)
	}
	c.subcommands = []*command{parseHelp("Create a key\n\nUsage:\n  tpmkey keygen ALIAS [flags]\n")}
	c.subcommands[0].path = []string{"keygen"}
	var page bytes.Buffer
	writePage(&page, "tpmkey", "1", "2025-11-27", c)
	for _, want := range []string{
		`.TH TPMKEY 1 "2025-11-27" "tpmkey" "User Commands"`,
		`tpmkey \- use keys held by tpmkeyd`,
		`\-\-json   JSON output`,
		`.SS tpmkey keygen`,
		`tpmkey keygen ALIAS [flags]`,
	} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q:\n%s", want, page.String())
		}
	}
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`a\b`, `a\eb`},
		{"--pss", `\-\-pss`},
		{".hidden", `\&.hidden`},
		{"'quote", `\&'quote`},
	} {
		t.Run(strings.Trim(tc.in, `.'\-`), func(t *testing.T) {
			if got := escape(tc.in); got != tc.want {
				t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
