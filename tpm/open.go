package tpm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/google/go-tpm/tpm2/transport/linuxudstpm"
)

// DefaultSpec is the kernel's resource-managed TPM device.
const DefaultSpec = "/dev/tpmrm0"

// Open connects to spec ("/dev/tpmrm0", "/dev/tpm0", "swtpm:tcp://H:P",
// "swtpm:unix:///PATH", "sim:"), provisions or checks the SRK, and pins its Name.
func Open(ctx context.Context, spec string, opts Options) (*TPM, error) {
	if opts.StateDir == "" {
		return nil, fmt.Errorf("tpm.Open: %w: Options.StateDir is required", ErrInvalid)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("tpm.Open: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &TPM{spec: spec, opts: opts, log: log}
	if opts.OwnerPasswordFile != "" {
		pw, err := os.ReadFile(opts.OwnerPasswordFile)
		if err != nil {
			return nil, fmt.Errorf("tpm.Open: owner password: %w", err)
		}
		t.ownerPW = bytes.TrimRight(pw, "\r\n")
	}
	tr, noRM, err := openTransport(ctx, spec, opts, log)
	if err != nil {
		return nil, fmt.Errorf("tpm.Open: %w: %w", ErrUnavailable, err)
	}
	t.wire, t.noRM = &wire{tpm: tr}, noRM
	t.cache = newKeyCache(1)
	if err := t.prepareLocked(ctx); err != nil {
		_ = t.Close()
		return nil, classify("tpm.Open", err)
	}
	if err := retryTPM(ctx, t.readInfoLocked); err != nil {
		_ = t.Close()
		return nil, classify("tpm.Open", err)
	}
	slots := t.info.Slots
	if opts.CacheSlots > 0 {
		slots = opts.CacheSlots
	}
	t.cache = newKeyCache(slots)
	log.Info("TPM opened", "op", "open", "spec", spec, "manufacturer", t.info.Manufacturer,
		"firmware", t.info.Firmware, "cache_slots", slots, "srk_persistent", t.srk.persistent)
	return t, nil
}

// openTransport opens spec; noRM reports a TPM without resource manager,
// on which stale handles must be flushed and slots are scarce.
func openTransport(ctx context.Context, spec string, opts Options, log *slog.Logger) (transport.TPMCloser, bool, error) {
	switch {
	case strings.HasPrefix(spec, "/dev/tpmrm"):
		tr, err := linuxtpm.Open(spec)
		return tr, false, wrapOpen("linuxtpm.Open", err)
	case strings.HasPrefix(spec, "/dev/tpm"):
		log.Warn("TPM device without the kernel resource manager; no other program may use it",
			"op", "open", "spec", spec)
		tr, err := linuxtpm.Open(spec)
		return tr, true, wrapOpen("linuxtpm.Open", err)
	case strings.HasPrefix(spec, "swtpm:tcp://"):
		cmdAddr, platAddr, err := parseTCPSpec(spec)
		if err != nil {
			return nil, false, err
		}
		// No PowerOn: swtpm's control port does not speak the Microsoft
		// simulator's platform protocol; swtpm runs already powered on.
		tr, err := openSwtpmTCP(cmdAddr, platAddr)
		if err != nil {
			return nil, false, wrapOpen("openSwtpmTCP", err)
		}
		return tr, true, nil
	case strings.HasPrefix(spec, "swtpm:unix://"):
		path := strings.TrimPrefix(spec, "swtpm:unix://")
		if !strings.HasPrefix(path, "/") {
			return nil, false, fmt.Errorf("%w: %q: want swtpm:unix:///ABSOLUTE/PATH", ErrInvalid, spec)
		}
		tr, err := linuxudstpm.Open(path)
		return tr, true, wrapOpen("linuxudstpm.Open", err)
	case spec == "sim:" || strings.HasPrefix(spec, "sim:"):
		tr, err := openSimulator(ctx, opts.StateDir)
		return tr, true, err
	}
	return nil, false, fmt.Errorf("%w: TPM spec %q (want /dev/tpmrm0, /dev/tpm0, swtpm:tcp://HOST:PORT, swtpm:unix:///PATH or sim:)", ErrInvalid, spec)
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
