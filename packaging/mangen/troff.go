package main

import (
	"bytes"
	"fmt"
	"strings"
)

// writePage renders root and its subcommands as one man(7) page.
func writePage(w *bytes.Buffer, name, section, date string, root *command) {
	fmt.Fprintf(w, ".TH %s %s %q %q %q\n", strings.ToUpper(name), section, date, name, "User Commands")
	short := root.summary
	if short == "" {
		short = firstSentence(root.description)
	}
	fmt.Fprintf(w, ".SH NAME\n%s \\- %s\n", escape(name), escape(strings.TrimSuffix(lowerFirst(short), ".")))
	if s := root.section("Usage"); s != nil {
		w.WriteString(".SH SYNOPSIS\n")
		writeLiteral(w, s.lines)
	}
	w.WriteString(".SH DESCRIPTION\n")
	writeParagraphs(w, root.description)
	writeSections(w, root, ".SH")
	if len(root.subcommands) > 0 {
		w.WriteString(".SH COMMANDS\n")
		for _, sub := range root.subcommands {
			writeCommand(w, name, sub)
		}
	}
	fmt.Fprintf(w, ".SH SEE ALSO\n.BR tpmkeyd (8)\n")
}

func writeCommand(w *bytes.Buffer, name string, c *command) {
	fmt.Fprintf(w, ".SS %s\n", escape(name+" "+strings.Join(c.path, " ")))
	writeParagraphs(w, c.description)
	writeSections(w, c, ".TP\n.B")
	for _, sub := range c.subcommands {
		writeCommand(w, name, sub)
	}
}

// writeSections writes every section but the command list, which becomes
// the COMMANDS part, and the global flags, which only repeat the root's.
func writeSections(w *bytes.Buffer, c *command, heading string) {
	for _, s := range c.sections {
		switch s.title {
		case "Available Commands", "Global Flags", "Additional help topics":
			continue
		case "Usage":
			if len(c.path) == 0 {
				continue // the SYNOPSIS already holds it
			}
		}
		if heading == ".SH" {
			fmt.Fprintf(w, ".SH %s\n", escape(strings.ToUpper(s.title)))
		} else {
			fmt.Fprintf(w, ".PP\n.I %s:\n", escape(s.title))
		}
		writeLiteral(w, s.lines)
	}
}

// writeLiteral keeps cobra's column layout: a no-fill block.
func writeLiteral(w *bytes.Buffer, lines []string) {
	w.WriteString(".PP\n.nf\n.RS 2\n")
	for _, l := range lines {
		w.WriteString(escape(strings.TrimPrefix(l, "  ")) + "\n")
	}
	w.WriteString(".RE\n.fi\n")
}

func writeParagraphs(w *bytes.Buffer, text string) {
	for _, p := range strings.Split(text, "\n\n") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		w.WriteString(".PP\n")
		for _, l := range strings.Split(p, "\n") {
			w.WriteString(escape(strings.TrimSpace(l)) + "\n")
		}
	}
}

func (c *command) section(title string) *section {
	for i := range c.sections {
		if c.sections[i].title == title {
			return &c.sections[i]
		}
	}
	return nil
}

func firstSentence(d string) string {
	para, _, _ := strings.Cut(d, "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	if i := strings.Index(para, ". "); i >= 0 {
		return para[:i]
	}
	return para
}

func lowerFirst(s string) string {
	if s == "" || (len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z') {
		return s // an acronym such as "TPM" stays as it is
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// escape makes text safe as troff input: backslashes, minus signs (so that
// options copy and paste as ASCII), and a leading control character.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
