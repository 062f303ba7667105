package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// maxInput bounds what the CLI reads into memory for a request body (the
// agent's frame limit is 1 MiB by default; signing streams instead).
const maxInput = 1 << 20

// openInput opens path, or stdin for "" and "-".
func (c *cli) openInput(path string) (io.ReadCloser, error) {
	if path == "" || path == "-" {
		return io.NopCloser(c.in), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, local(codeIO, err)
	}
	return f, nil
}

// readInput reads all of path (or stdin), at most maxInput bytes.
func (c *cli) readInput(path string) ([]byte, error) {
	r, err := c.openInput(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return c.readAll(r, path)
}

// readAll reads all of r, opened from path, at most maxInput bytes.
func (c *cli) readAll(r io.Reader, path string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, local(codeIO, fmt.Errorf("read %s: %w", displayName(path), err))
	}
	if len(b) > maxInput {
		return nil, local(codeBadInput, fmt.Errorf("%s is larger than %d bytes", displayName(path), maxInput))
	}
	return b, nil
}

// writeOutput writes data to a new file at path, mode 0600 as it may be a
// secret (writeFileAtomic), or to stdout for "" and "-".
func (c *cli) writeOutput(path string, data []byte) error {
	if path == "" || path == "-" {
		_, err := c.out.Write(data)
		return err
	}
	if err := writeFileAtomic(path, data); err != nil {
		return local(codeIO, err)
	}
	return nil
}

// readPIN reads a PIN from a file, without its trailing newline.
func readPIN(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, local(codeIO, fmt.Errorf("PIN file: %w", err))
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, usagef("PIN file %s is empty", path)
	}
	return b, nil
}

// parsePCRs parses "0,7" into PCR indices 0..23.
func parsePCRs(s string) ([]uint, error) {
	if s == "" {
		return nil, nil
	}
	var pcrs []uint
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 8)
		if err != nil || n > 23 {
			return nil, usagef("--pcrs %q: %q is not a PCR index 0..23", s, f)
		}
		pcrs = append(pcrs, uint(n))
	}
	return pcrs, nil
}

func displayName(path string) string {
	if path == "" || path == "-" {
		return "standard input"
	}
	return path
}
