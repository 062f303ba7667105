//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"

	"github.com/tpmkeyd/tpmkeyd/agent/core"
	"github.com/tpmkeyd/tpmkeyd/agent/native"
	"github.com/tpmkeyd/tpmkeyd/agent/sshagent"
	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// Options configure a Daemon. cmd/tpmkeyd fills them from its flags.
type Options struct {
	TPMSpec           string      // wins over the config's tpm; "" = config, else tpm.DefaultSpec
	StateDir          string      // required
	SocketPath        string      // required unless systemd passes a socket or Listener is set
	SocketMode        os.FileMode // 0 means 0666: access control is per uid, inside
	SocketGroup       string      // name or gid; "" keeps the daemon's group
	ConfigPath        string      // "" means the defaults; a missing file too
	Logger            *slog.Logger
	AuditLogger       *slog.Logger   // overrides config audit.format (tests)
	AuditWriter       io.Writer      // stderr for audit records when not journald; default os.Stderr
	LogLevel          *slog.LevelVar // when set, follows config audit.level
	Version           string
	OwnerPasswordFile string
	Listener          net.Listener // pre-made (tests); treated like an activated socket
	SSHSocketPath     string       // the ssh-agent socket (listen_ssh.go); "" = none unless systemd passes one
	SSHListener       net.Listener // pre-made ssh-agent socket (tests)
	PKCS11SocketPath  string       // the PKCS#11 (p11-kit RPC) socket; "" = only if systemd passes one
	PKCS11Listener    net.Listener // pre-made (tests)

	sockets *activatedSockets // what systemd passed, read once

	// wrapTPM, set by tests only, wraps the TPM the core uses (to count
	// or slow its commands); the TPM itself stays real.
	wrapTPM func(core.TPM) core.TPM
}

// Daemon is tpmkeyd: New, then Run until Stop or the context ends; Reload
// re-reads the configuration.
type Daemon struct {
	opts     Options
	log      *slog.Logger
	notifier *Notifier
	ready    chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	reloadMu sync.Mutex

	mu      sync.Mutex
	running *running
}

// New checks opts and fills in defaults; it touches nothing on disk.
func New(opts Options) (*Daemon, error) {
	if opts.StateDir == "" {
		return nil, errors.New("agent.New: StateDir is required")
	}
	if opts.SocketPath == "" && opts.Listener == nil && os.Getenv("LISTEN_FDS") == "" {
		return nil, errors.New("agent.New: SocketPath is required")
	}
	if opts.SocketMode == 0 {
		opts.SocketMode = 0o666
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.AuditWriter == nil {
		opts.AuditWriter = os.Stderr
	}
	if opts.Version == "" {
		opts.Version = "devel"
	}
	return &Daemon{
		opts: opts, log: opts.Logger, notifier: NewNotifier(),
		ready: make(chan struct{}), stop: make(chan struct{}),
	}, nil
}

// Ready is closed once the daemon serves requests.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Stop asks Run to shut down gracefully; it does not wait.
func (d *Daemon) Stop() { d.stopOnce.Do(func() { close(d.stop) }) }

// Run starts the daemon, serves until ctx ends or Stop is called, then
// shuts down: stop accepting, finish in-flight requests within the
// shutdown timeout, flush the TPM, remove the socket.
func (d *Daemon) Run(ctx context.Context) error {
	rn, err := d.start(ctx)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.running = rn
	d.mu.Unlock()

	serveErr := make(chan error, 1)
	go func() { serveErr <- rn.srv.Serve(rn.ln) }()
	rn.startSSH(d)
	bgCtx, bgCancel := context.WithCancel(context.Background())
	bg := d.startBackground(bgCtx, rn)

	d.notifier.Ready(d.statusLine(rn))
	d.log.Info("ready", "socket", rn.ln.path, "activated", rn.ln.activated, "tpm", rn.spec,
		"tpm_manufacturer", rn.tpm.Info().Manufacturer, "state_dir", d.opts.StateDir, "version", d.opts.Version)
	close(d.ready)

	var runErr error
	select {
	case <-ctx.Done():
	case <-d.stop:
	case runErr = <-serveErr:
	}
	d.notifier.Stopping()
	d.log.Info("stopping")
	bgCancel()
	bg.Wait()
	rn.stopSSH(rn.core.Limits().ShutdownTimeout.Duration)
	rn.srv.Shutdown(rn.ln, rn.core.Limits().ShutdownTimeout.Duration)
	rn.p11.shutdown(rn.core.Limits().ShutdownTimeout.Duration)
	d.mu.Lock()
	d.running = nil
	d.mu.Unlock()
	rn.close(d.log)
	d.log.Info("stopped")
	return runErr
}

// running is what start opened, closed in reverse order.
type running struct {
	spec    string
	release func()
	ln      *listener
	tpm     *tpm.TPM
	store   *store.Store
	core    *core.Core
	srv     *native.Server
	keys    keyCount
	sshLn   *listener
	sshSrv  *sshagent.Server
	p11     *pkcs11Front // nil without a PKCS#11 socket
}

// start takes the state dir, the socket, the TPM and the store, in that
// order: the cheap exclusive checks come first, so a second daemon fails
// before it touches the TPM (swtpm serves one client at a time).
func (d *Daemon) start(ctx context.Context) (rn *running, err error) {
	st, err := d.loadSettings()
	if err != nil {
		return nil, err
	}
	rn = &running{spec: d.tpmSpec(st.Config())}
	rn.keys.Store(-1)
	defer func() {
		if err != nil {
			rn.close(d.log)
		}
	}()
	if rn.release, err = lockStateDir(d.opts.StateDir); err != nil {
		return rn, err
	}
	if rn.ln, err = listen(&d.opts); err != nil {
		return rn, err
	}
	if rn.sshLn, err = listenSSH(&d.opts); err != nil {
		return rn, err
	}
	if rn.p11, err = listenPKCS11(&d.opts); err != nil {
		return rn, err
	}
	rn.tpm, err = tpm.OpenSpec(ctx, rn.spec, tpm.Options{StateDir: d.opts.StateDir,
		OwnerPasswordFile: d.opts.OwnerPasswordFile, Logger: d.log,
		MaxQueuedPerOwner: st.Config().Limits.MaxQueuedTPMPerUID})
	if err != nil {
		return rn, fmt.Errorf("opening TPM %q: %w", rn.spec, err)
	}
	macKey, err := store.LoadIntegrityKey(ctx, rn.tpm, d.opts.StateDir)
	if err != nil {
		return rn, err // one line, prefixed by the store
	}
	rn.store, err = store.Open(d.opts.StateDir, macKey, d.log)
	clear(macKey)
	if err != nil {
		return rn, err
	}
	var backend core.TPM = rn.tpm
	if d.opts.wrapTPM != nil {
		backend = d.opts.wrapTPM(backend)
	}
	if rn.core, err = core.New(d.log, backend, rn.store, d.opts.StateDir, d.opts.Version, st); err != nil {
		return rn, err
	}
	rn.srv = native.NewServer(d.log, rn.core)
	rn.p11.start(d.log, rn.core)
	return rn, nil
}

// close releases what start took; shutdown has already drained requests.
func (rn *running) close(log *slog.Logger) {
	if rn.core != nil {
		rn.core.Close()
	}
	if rn.store != nil {
		rn.store.Close()
	}
	if rn.tpm != nil {
		if err := rn.tpm.Close(); err != nil {
			log.Error("closing the TPM", "err", err)
		}
	}
	if rn.ln != nil {
		rn.ln.Close()
		rn.ln.remove()
	}
	if rn.sshLn != nil {
		rn.sshLn.Close()
		rn.sshLn.remove()
	}
	rn.p11.close()
	if rn.release != nil {
		rn.release()
	}
}

func (d *Daemon) tpmSpec(cfg core.Config) string {
	switch {
	case d.opts.TPMSpec != "":
		return d.opts.TPMSpec
	case cfg.TPM != "":
		return cfg.TPM
	}
	return tpm.DefaultSpec
}

// loadSettings reads and validates the config file and builds what
// derives from it.
func (d *Daemon) loadSettings() (*core.Settings, error) {
	cfg, err := core.LoadConfig(d.opts.ConfigPath)
	if err != nil {
		return nil, fmt.Errorf("LoadConfig: %w", err)
	}
	if d.opts.LogLevel != nil && cfg.Audit.Level != "" {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(cfg.Audit.Level)); err == nil {
			d.opts.LogLevel.Set(lvl)
		}
	}
	return core.NewSettings(cfg, d.opts.AuditLogger, d.opts.AuditWriter)
}
