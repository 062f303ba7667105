// Package e2e builds the real tpmkeyd and tpmkey binaries and runs the daemon
// against a private swtpm for end-to-end tests and examples: it starts the
// process, polls its socket until it accepts (never a fixed sleep), and
// stops it with SIGTERM the way systemd would.
package e2e
