package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// Environment variables the CLI reads besides client.SocketEnv.
const (
	// trustUIDEnv names a user or uid to trust as the server, like
	// --trust-server-uid.
	trustUIDEnv = "TPMKEY_TRUST_SERVER_UID"
	// devDirName is the directory tpmkeyd --dev keeps its socket in; a
	// socket under it is trusted when served by the caller's own uid.
	devDirName = ".tpmkeyd-dev"
)

type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// cli holds the global flags and what every command needs.
type cli struct {
	stdio
	getenv    func(string) string
	socket    string
	json      bool
	trustUser string
}

// run parses args and runs the command they name.
func run(ctx context.Context, args []string, io stdio, getenv func(string) string) error {
	c := &cli{stdio: io, getenv: getenv}
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetIn(io.in)
	root.SetOut(io.out)
	root.SetErr(io.err)
	return root.ExecuteContext(ctx)
}

func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "tpmkey",
		Short: "Create and use TPM-backed keys through tpmkeyd",
		Long: `tpmkey talks to the tpmkeyd agent over its Unix socket. Keys never leave
the TPM; each local user sees only their own keys.

The socket is --socket, else $TPMKEY_SOCKET, else /run/tpmkeyd/tpmkeyd.sock.
The socket must have been set listening by root (systemd, under socket
activation), by the system user tpmkeyd (where it exists), or by the user
named by --trust-server-uid (or $TPMKEY_TRUST_SERVER_UID); a socket under a
.tpmkeyd-dev directory may also be served by your own uid (tpmkeyd --dev).`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("no command given")
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	pf := root.PersistentFlags()
	pf.StringVar(&c.socket, "socket", "", "agent socket (default $TPMKEY_SOCKET or "+client.DefaultSocket+")")
	pf.BoolVar(&c.json, "json", false, "print results as JSON (see docs/CLI.md)")
	pf.StringVar(&c.trustUser, "trust-server-uid", "", "also trust an agent running as this user or uid")
	root.AddCommand(
		c.keygenCommand(), c.listCommand(), c.showCommand(), c.pubkeyCommand(), c.rmCommand(),
		c.signCommand(), c.verifyCommand(), c.decryptCommand(), c.encryptCommand(), c.ecdhCommand(),
		c.macCommand(), c.verifyMACCommand(), c.rotateCommand(),
		c.datakeyCommand(), c.reencryptCommand(), c.keyCommand(),
		c.sealCommand(), c.unsealCommand(), c.randomCommand(), c.statusCommand(),
		c.importCommand(), c.wrapCommand(), c.exportCommand(), c.backupCommand(), c.restoreCommand(),
		c.sshCommand(),
	)
	root.AddCommand(c.certCommand())
	return root
}

// runE adapts a command body: its errors are run errors (exit 1), except
// usage errors (exit 2).
func runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ue *usageError
		if err == nil || errors.As(err, &ue) {
			return err
		}
		if ctxErr := cmd.Context().Err(); ctxErr != nil && errors.Is(err, ctxErr) {
			err = local(codeInterrupted, err)
		}
		return &runError{err: err}
	}
}

// socketPath resolves the socket as the client would, so that the dev-mode
// check sees the real path.
func (c *cli) socketPath() string {
	if c.socket != "" {
		return c.socket
	}
	if s := c.getenv(client.SocketEnv); s != "" {
		return s
	}
	return client.DefaultSocket
}

// dial connects to the agent with the trust the flags and environment add to
// the client's own default (root and the packaged service user).
func (c *cli) dial(ctx context.Context) (*client.Client, error) {
	path := c.socketPath()
	opts := []client.Option{client.WithClientName("tpmkey")}
	if u := c.trustUser; u != "" {
		opts = append(opts, client.WithServerUser(u))
	} else if u := c.getenv(trustUIDEnv); u != "" {
		opts = append(opts, client.WithServerUser(u))
	}
	if isDevSocket(path) {
		opts = append(opts, client.WithTrustSameUser())
	}
	cl, err := client.Dial(ctx, path, opts...)
	if err != nil && !errors.Is(err, client.ErrUntrustedServer) && !isServerError(err) {
		return nil, local(codeConnection, err)
	}
	return cl, err
}

// isDevSocket reports whether path lies in a .tpmkeyd-dev directory.
func isDevSocket(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	return slices.Contains(strings.Split(filepath.Dir(abs), string(os.PathSeparator)), devDirName)
}

func isServerError(err error) bool {
	var se *client.Error
	return errors.As(err, &se)
}

// withClient dials, runs f, and closes the connection.
func (c *cli) withClient(cmd *cobra.Command, f func(ctx context.Context, cl *client.Client) error) error {
	ctx := cmd.Context()
	cl, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(ctx, cl)
}
