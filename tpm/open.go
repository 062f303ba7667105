package tpm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
)

// DefaultSpec is the kernel's resource-managed TPM device.
const DefaultSpec = "/dev/tpmrm0"

// Opener dials one TPM. Open dials through it once, and again after every
// broken connection. ParseSpec makes one from a spec string; a test or an
// embedder may build one around any transport (go-tpm's transport is a
// one-method interface, easy to wrap).
type Opener struct {
	// Name identifies the TPM in logs (the spec string); never a secret.
	Name string
	// NoRM reports a TPM without a resource manager: objects a crashed
	// process left loaded are flushed at open, and nobody else may use it.
	NoRM bool
	// Dial opens a new connection.
	Dial func(ctx context.Context) (transport.TPMCloser, error)
}

// ParseSpec turns spec ("/dev/tpmrm0", "/dev/tpm0" or another device path,
// "swtpm:tcp://H:P", "swtpm:unix:///PATH", "sim:") into an Opener, without dialing. opts gives
// the logger and, for sim:, the state directory that keeps its seed.
func ParseSpec(spec string, opts Options) (Opener, error) {
	log := loggerOf(opts)
	o := Opener{Name: spec, NoRM: true}
	switch {
	case strings.HasPrefix(filepath.Base(spec), "tpmrm") && filepath.IsAbs(spec):
		o.NoRM = false
		o.Dial = func(context.Context) (transport.TPMCloser, error) {
			tr, err := linuxtpm.Open(spec)
			return tr, wrapOpen("linuxtpm.Open", err)
		}
	case filepath.IsAbs(spec):
		// Any other device (/dev/tpm0, a udev alias) is taken to lack
		// the kernel's resource manager: the safe assumption.
		o.Dial = func(context.Context) (transport.TPMCloser, error) {
			log.Warn("TPM device without the kernel resource manager; no other program may use it",
				"op", "open", "spec", spec)
			tr, err := linuxtpm.Open(spec)
			return tr, wrapOpen("linuxtpm.Open", err)
		}
	case strings.HasPrefix(spec, "swtpm:tcp://"):
		cmdAddr, platAddr, err := parseTCPSpec(spec)
		if err != nil {
			return Opener{}, fmt.Errorf("tpm.ParseSpec: %w", err)
		}
		// No PowerOn: swtpm's control port does not speak the Microsoft
		// simulator's platform protocol; swtpm runs already powered on.
		o.Dial = func(ctx context.Context) (transport.TPMCloser, error) {
			tr, err := openSwtpmTCP(ctx, cmdAddr, platAddr)
			if err != nil {
				return nil, wrapOpen("openSwtpmTCP", err)
			}
			return tr, nil
		}
	case strings.HasPrefix(spec, "swtpm:unix://"):
		path := strings.TrimPrefix(spec, "swtpm:unix://")
		if !strings.HasPrefix(path, "/") {
			return Opener{}, fmt.Errorf("tpm.ParseSpec: %w: %q: want swtpm:unix:///ABSOLUTE/PATH", ErrInvalid, spec)
		}
		o.Dial = func(context.Context) (transport.TPMCloser, error) {
			tr, err := linuxudstpm.Open(path)
			return tr, wrapOpen("linuxudstpm.Open", err)
		}
	case strings.HasPrefix(spec, "sim:"):
		dir := opts.StateDir
		o.Dial = func(ctx context.Context) (transport.TPMCloser, error) { return openSimulator(ctx, dir) }
	default:
		return Opener{}, fmt.Errorf("tpm.ParseSpec: %w: TPM spec %q (want /dev/tpmrm0, /dev/tpm0, swtpm:tcp://HOST:PORT, swtpm:unix:///PATH or sim:)", ErrInvalid, spec)
	}
	return o, nil
}

// OpenSpec is ParseSpec followed by Open.
func OpenSpec(ctx context.Context, spec string, opts Options) (*TPM, error) {
	o, err := ParseSpec(spec, opts)
	if err != nil {
		return nil, err
	}
	return Open(ctx, o, opts)
}

// Open connects through o, provisions or checks the SRK, and pins its Name.
func Open(ctx context.Context, o Opener, opts Options) (*TPM, error) {
	if opts.StateDir == "" {
		return nil, fmt.Errorf("tpm.Open: %w: Options.StateDir is required", ErrInvalid)
	}
	if o.Dial == nil {
		return nil, fmt.Errorf("tpm.Open: %w: Opener.Dial is nil", ErrInvalid)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("tpm.Open: %w", err)
	}
	log := loggerOf(opts)
	t := &TPM{opener: o, opts: opts, log: log}
	t.answers.epoch = time.Now()
	t.sched.maxQueued = opts.MaxQueuedPerOwner
	if t.sched.maxQueued <= 0 {
		t.sched.maxQueued = DefaultMaxQueuedPerOwner
	}
	if opts.OwnerPasswordFile != "" {
		pw, err := os.ReadFile(opts.OwnerPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("tpm.Open: owner password: %w", err)
		}
		t.ownerPW = bytes.TrimRight(pw, "\r\n")
	}
	tr, err := o.Dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("tpm.Open: %w: %w", ErrUnavailable, err)
	}
	t.wire = &wire{tpm: tr, answers: &t.answers}
	t.cache = newKeyCache(1)
	// Nobody else has t yet: these run as if in a turn.
	if err := t.prepareLocked(ctx); err != nil {
		err = t.classifyLocked("tpm.Open", err)
		_ = t.Close()
		return nil, err
	}
	if err := retryTPM(ctx, t.readInfoLocked); err != nil {
		err = t.classifyLocked("tpm.Open", err)
		_ = t.Close()
		return nil, err
	}
	t.srkName = bytes.Clone(t.srk.name.Buffer)
	t.srkPub = tpm2.Marshal(tpm2.New2B(t.srk.public))
	slots := t.info.Slots
	if opts.CacheSlots > 0 {
		slots = opts.CacheSlots
	}
	t.cache = newKeyCache(slots)
	log.Info("TPM opened", "op", "open", "spec", o.Name, "manufacturer", t.info.Manufacturer,
		"firmware", t.info.Firmware, "cache_slots", slots, "srk_persistent", t.srk.persistent,
		"da_counter", t.info.DA.Counter, "da_max_tries", t.info.DA.MaxTries, "da_interval", t.info.DA.Interval)
	return t, nil
}

func loggerOf(opts Options) *slog.Logger {
	if opts.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return opts.Logger
}

func wrapOpen(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// parseTCPSpec turns swtpm:tcp://HOST:PORT into the command address and the
// control address, which swtpm serves on PORT+1.
func parseTCPSpec(spec string) (string, string, error) {
	u, err := url.Parse(strings.TrimPrefix(spec, "swtpm:"))
	if err != nil || u.Host == "" || u.Path != "" {
		return "", "", fmt.Errorf("%w: %q: want swtpm:tcp://HOST:PORT", ErrInvalid, spec)
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	port, perr := strconv.Atoi(portStr)
	if err != nil || perr != nil || port <= 0 || port >= 65535 {
		return "", "", fmt.Errorf("%w: %q: want swtpm:tcp://HOST:PORT", ErrInvalid, spec)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), net.JoinHostPort(host, strconv.Itoa(port+1)), nil
}
