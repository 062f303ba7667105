// Command tpmkeyd is the TPM-backed key agent: it serves docs/PROTOCOL.md
// on a Unix socket. The logic lives in package agent; this file only wires
// flags, signals and logging to it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"syscall"

	"github.com/tpmkeyd/tpmkeyd/agent"
	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// version is stamped at build time with -ldflags "-X main.version=1.2.3".
var version = ""

func main() {
	os.Exit(exitCode(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// errUsage marks a command-line mistake: exit code 2.
var errUsage = errors.New("usage")

func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintf(stderr, "tpmkeyd: %v\n", err)
	return 1
}

// flags are the command line.
type flags struct {
	tpm, stateDir, socket, socketMode, socketGroup, config, logLevel string
	sshSocket                                                        string
	pkcs11Socket                                                     string
	dev                                                              bool
	pprof, cpuprofile                                                string
	tpmGiven                                                         bool
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("tpmkeyd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDefault := os.Getenv("STATE_DIRECTORY")
	if stateDefault == "" {
		stateDefault = "/var/lib/tpmkeyd"
	}
	fs.StringVar(&f.tpm, "tpm", tpm.DefaultSpec, "TPM: /dev/tpmrm0, /dev/tpm0, swtpm:tcp://HOST:PORT, swtpm:unix:///PATH, sim:")
	fs.StringVar(&f.stateDir, "state-dir", stateDefault, "state directory (keys, integrity key); default $STATE_DIRECTORY")
	fs.StringVar(&f.socket, "socket", client.DefaultSocket, "socket path (ignored under socket activation)")
	fs.StringVar(&f.socketMode, "socket-mode", "0666", "socket file mode, octal")
	fs.StringVar(&f.socketGroup, "socket-group", "", "socket group, name or gid")
	fs.StringVar(&f.sshSocket, "ssh-socket", "", "also serve the ssh-agent protocol on this socket path (systemd: tpmkeyd-ssh.socket)")
	fs.StringVar(&f.config, "config", "", "config file (TOML), e.g. /etc/tpmkeyd/tpmkeyd.toml")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default: the config's audit.level, else info)")
	fs.StringVar(&f.pkcs11Socket, "pkcs11-socket", "", "also serve PKCS#11 (p11-kit RPC) on this socket path (ignored under socket activation)")
	fs.BoolVar(&f.dev, "dev", false, "try it out: simulator TPM, state and socket in ./.tpmkeyd-dev/ (needs -tags simulator)")
	fs.StringVar(&f.pprof, "pprof", "", "serve net/http/pprof on this address (profiling only)")
	fs.StringVar(&f.cpuprofile, "cpuprofile", "", "write a CPU profile to this file until exit")
	if err := fs.Parse(args); err != nil {
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tpmkeyd: unexpected argument %q\n", fs.Arg(0))
		return nil, errUsage
	}
	fs.Visit(func(fl *flag.Flag) { f.tpmGiven = f.tpmGiven || fl.Name == "tpm" })
	return f, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	f, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	if f.logLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(f.logLevel)); err != nil {
			fmt.Fprintf(stderr, "tpmkeyd: --log-level %q: want debug, info, warn or error\n", f.logLevel)
			return errUsage
		}
		level.Set(l)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	stdlog.SetFlags(0)
	stdlog.SetOutput(agent.StdLogWriter(log)) // x/crypto's ssh-agent server logs through it
	opts, err := options(f, stderr)
	if err != nil {
		return err
	}
	opts.Logger = log
	if f.logLevel == "" {
		opts.LogLevel = level
	}
	stopProfiling, err := startProfiling(f, log)
	if err != nil {
		return err
	}
	defer stopProfiling()
	err = serve(ctx, opts, f.dev, stdout)
	if f.dev && errors.Is(err, tpm.ErrUnsupported) {
		return fmt.Errorf("%w\n--dev needs the simulator: go run -tags simulator ./cmd/tpmkeyd --dev", err)
	}
	return err
}

// options turns the flags into agent.Options.
func options(f *flags, stderr io.Writer) (agent.Options, error) {
	var opts agent.Options
	if f.dev {
		var err error
		if opts, err = agent.DevOptions(".tpmkeyd-dev"); err != nil {
			return opts, fmt.Errorf("--dev: %w", err)
		}
		if f.tpmGiven {
			opts.TPMSpec = f.tpm
		}
	} else {
		mode, err := strconv.ParseUint(f.socketMode, 8, 32)
		if err != nil || mode > 0o777 {
			fmt.Fprintf(stderr, "tpmkeyd: --socket-mode %q: want an octal mode such as 0660\n", f.socketMode)
			return opts, errUsage
		}
		opts = agent.Options{StateDir: f.stateDir, SocketPath: f.socket,
			SocketMode: os.FileMode(mode), SocketGroup: f.socketGroup}
		if f.tpmGiven {
			opts.TPMSpec = f.tpm
		}
	}
	if f.sshSocket != "" {
		opts.SSHSocketPath = f.sshSocket
	}
	if f.pkcs11Socket != "" {
		opts.PKCS11SocketPath = f.pkcs11Socket
	}
	opts.ConfigPath = f.config
	opts.Version = buildVersion()
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		if p := filepath.Join(dir, "owner-password"); fileExists(p) {
			opts.OwnerPasswordFile = p
		}
	}
	return opts, nil
}

// serve runs the daemon: SIGTERM and SIGINT stop it gracefully, SIGHUP
// reloads the configuration.
func serve(ctx context.Context, opts agent.Options, dev bool, stdout io.Writer) error {
	d, err := agent.New(opts)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	ready := d.Ready()
	for {
		select {
		case err := <-done:
			return err
		case <-hup:
			d.Reload(ctx) // logs its outcome; a bad config keeps the old one
		case <-ready:
			ready = nil // a closed channel would fire again
			if dev {
				fmt.Fprintf(stdout, "TPMKEY_SOCKET=%s\n", opts.SocketPath)
				if opts.SSHSocketPath != "" {
					fmt.Fprintf(stdout, "SSH_AUTH_SOCK=%s\n", opts.SSHSocketPath)
				}
				fmt.Fprintf(stdout, "P11_KIT_SERVER_ADDRESS=unix:path=%s\n", opts.PKCS11SocketPath)
			}
		}
	}
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
