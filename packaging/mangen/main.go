// Command mangen writes the tpmkey(1) manual page from the --help output of
// a built cobra command, in the manner of help2man, so that the page always
// matches the binary it ships with.
//
// Usage: mangen -bin ./tpmkey -name tpmkey -section 1 -out tpmkey.1
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "", "the built binary to document")
	name := flag.String("name", "", "command name (default: base name of -bin)")
	section := flag.String("section", "1", "manual section")
	out := flag.String("out", "", "output file (default: stdout)")
	date := flag.String("date", "", "page date, YYYY-MM-DD (default: from SOURCE_DATE_EPOCH)")
	summary := flag.String("summary", "", "the NAME line's text (default: the first sentence of the help)")
	flag.Parse()
	if err := run(context.Background(), *bin, *name, *section, *out, *date, *summary); err != nil {
		fmt.Fprintln(os.Stderr, "mangen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, name, section, out, date, summary string) error {
	if bin == "" {
		return fmt.Errorf("-bin is required")
	}
	if name == "" {
		name = bin[strings.LastIndex(bin, "/")+1:]
	}
	if date == "" {
		date = pageDate(os.Getenv("SOURCE_DATE_EPOCH"))
	}
	root, err := collect(ctx, bin, nil)
	if err != nil {
		return err
	}
	root.summary = summary
	var buf bytes.Buffer
	writePage(&buf, name, section, date, root)
	if out == "" {
		_, err = os.Stdout.Write(buf.Bytes())
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func pageDate(epoch string) string {
	var sec int64
	if _, err := fmt.Sscan(epoch, &sec); err != nil {
		return ""
	}
	return time.Unix(sec, 0).UTC().Format("2006-01-02")
}

// command is one parsed --help screen and its subcommands.
type command struct {
	path        []string // e.g. ["keygen"]
	summary     string   // for the NAME section; empty: the first sentence
	description string
	sections    []section // Usage, Aliases, Examples, Flags, Global Flags ...
	subcommands []*command
}

type section struct {
	title string
	lines []string
}

// collect runs `bin PATH... --help` and recurses into "Available Commands".
func collect(ctx context.Context, bin string, path []string) (*command, error) {
	args := append(append([]string{}, path...), "--help")
	cmd := exec.CommandContext(ctx, bin, args...)
	// Fixed environment: no terminal width, no locale, no user's socket.
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C", "COLUMNS=80"}
	outb, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
	}
	c := parseHelp(string(outb))
	c.path = path
	for _, s := range c.sections {
		if s.title != "Available Commands" {
			continue
		}
		for _, line := range s.lines {
			fields := strings.Fields(line)
			if len(fields) == 0 || fields[0] == "help" || fields[0] == "completion" {
				continue
			}
			sub, err := collect(ctx, bin, append(append([]string{}, path...), fields[0]))
			if err != nil {
				return nil, err
			}
			c.subcommands = append(c.subcommands, sub)
		}
	}
	return c, nil
}

// parseHelp splits cobra's default help template: a description, then
// sections headed by an unindented "Title:" line.
func parseHelp(help string) *command {
	c := &command{}
	var desc []string
	var cur *section
	for _, line := range strings.Split(strings.TrimRight(help, "\n"), "\n") {
		if isHeader(line) {
			c.sections = append(c.sections, section{title: strings.TrimSuffix(line, ":")})
			cur = &c.sections[len(c.sections)-1]
			continue
		}
		if strings.HasPrefix(line, "Use \"") && strings.HasSuffix(line, "more information about a command.") {
			continue
		}
		if cur == nil {
			desc = append(desc, line)
			continue
		}
		cur.lines = append(cur.lines, line)
	}
	c.description = strings.TrimSpace(strings.Join(desc, "\n"))
	for i := range c.sections {
		c.sections[i].lines = trimBlank(c.sections[i].lines)
	}
	return c
}

func isHeader(line string) bool {
	switch strings.TrimSuffix(line, ":") {
	case "Usage", "Aliases", "Examples", "Available Commands", "Flags", "Global Flags", "Additional help topics":
		return strings.HasSuffix(line, ":")
	}
	return false
}

func trimBlank(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
