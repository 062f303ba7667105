package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError is a mistake in the command line: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// runError marks an error returned by a command's own code, as opposed to
// one cobra returned while parsing the command line.
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// localError is a failure on the client's side, with the code that the
// error line shows in place of a server status.
type localError struct {
	code string
	err  error
}

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

func local(code string, err error) error { return &localError{code: code, err: err} }

// Codes for errors that do not come from the server.
const (
	codeConnection      = "CONNECTION_FAILED"
	codeUntrusted       = "UNTRUSTED_SERVER"
	codeInvalidSig      = "INVALID_SIGNATURE"
	codeIO              = "IO_ERROR"
	codeBadInput        = "BAD_INPUT"
	codeProtocol        = "PROTOCOL_ERROR"
	codeUnsupported     = "UNSUPPORTED"
	codeInterrupted     = "INTERRUPTED"
	codeConnectionClose = "CONNECTION_CLOSED"
)

// exitCode prints err as one line on stderr and returns the exit code.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var re *runError
	if errors.As(err, &ue) || !errors.As(err, &re) {
		fmt.Fprintf(stderr, "tpmkey: usage: %s\nRun 'tpmkey --help' for usage.\n", oneLine(err.Error()))
		return exitUsage
	}
	fmt.Fprintf(stderr, "tpmkey: %s: %s\n", errorCode(err), oneLine(message(err)))
	return exitError
}

// errorCode is the server's status name, or a local code.
func errorCode(err error) string {
	var se *client.Error
	var le *localError
	switch {
	case errors.As(err, &se):
		return se.Status.String()
	case errors.As(err, &le):
		return le.code
	case errors.Is(err, client.ErrUntrustedServer):
		return codeUntrusted
	case errors.Is(err, client.ErrConnectionClosed):
		return codeConnectionClose
	case errors.Is(err, client.ErrProtocol):
		return codeProtocol
	case errors.Is(err, client.ErrUnsupported):
		return codeUnsupported
	}
	return "ERROR"
}

// message is the server's message for a server error, else err's text.
func message(err error) string {
	var se *client.Error
	if errors.As(err, &se) && se.Message != "" {
		return se.Message
	}
	return err.Error()
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " ") }
