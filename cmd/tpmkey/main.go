// Command tpmkey is the command-line client of tpmkeyd: it creates and uses
// TPM-backed keys through the agent's socket (docs/CLI.md describes its
// commands, --json output and exit codes).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}
