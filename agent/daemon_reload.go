//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	configDebounce = 300 * time.Millisecond
	statusFirst    = 2 * time.Second // after READY, so a first request does not queue behind a count
	statusEvery    = 15 * time.Second
)

// Reload re-reads the configuration. A valid one applies to every request
// that starts afterwards; open connections stay. An invalid one is logged
// in one line naming the problem, and the old one stays.
func (d *Daemon) Reload(ctx context.Context) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.mu.Lock()
	rn := d.running
	d.mu.Unlock()
	if rn == nil {
		return errors.New("agent.Reload: the daemon is not running")
	}
	d.notifier.Reloading()
	defer func() { d.notifier.Ready(d.statusLine(rn)) }()
	st, err := d.loadSettings()
	if err != nil {
		d.log.Error("reload failed; keeping the previous configuration", "config", d.opts.ConfigPath, "err", err)
		return fmt.Errorf("agent.Reload: %w", err)
	}
	if spec := d.tpmSpec(st.Config()); spec != rn.spec {
		d.log.Warn("reload: a new TPM spec takes effect only at restart", "tpm", spec, "in_use", rn.spec)
	}
	rn.core.SetSettings(st)
	rn.tpm.SetMaxQueuedPerOwner(st.Config().Limits.MaxQueuedTPMPerUID)
	// Admins may have restored or removed records with file tools.
	rn.store.DropCaches()
	lim := st.Config().Limits
	d.log.Info("configuration reloaded", "config", d.opts.ConfigPath,
		"max_connections", lim.MaxConnections, "max_connections_per_uid", lim.MaxConnectionsPerUID,
		"max_keys_per_uid", lim.MaxKeysPerUID, "requests_per_second", lim.RequestsPerSecond,
		"max_frame_size", lim.MaxFrameSize)
	return nil
}

// startBackground runs the watchdog, the STATUS updater and the config
// watcher until ctx ends; they use the TPM, so Run waits for them before
// closing it.
func (d *Daemon) startBackground(ctx context.Context, rn *running) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() { d.notifier.Watchdog(ctx, rn.tpm.WatchdogCheck) })
	wg.Go(func() { d.updateStatus(ctx, rn) })
	if d.opts.ConfigPath != "" {
		// The watch is in place before READY, so no change after READY is missed.
		watching := make(chan struct{})
		wg.Go(func() {
			defer closeOnce(watching)
			err := watchConfig(ctx, d.opts.ConfigPath, configDebounce, func() {
				d.Reload(ctx) // logs its own outcome
			}, func() { closeOnce(watching) })
			if err != nil && ctx.Err() == nil {
				d.log.Warn("not watching the config file; SIGHUP still reloads", "config", d.opts.ConfigPath, "err", err)
			}
		})
		<-watching
	}
	return &wg
}

// updateStatus refreshes the key count and the STATUS= line. Counting
// keys reads directories, so it runs here, never before READY.
func (d *Daemon) updateStatus(ctx context.Context, rn *running) {
	t := time.NewTimer(statusFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if all, err := rn.store.CountAll(); err == nil {
			n := 0
			for _, c := range all {
				n += c
			}
			rn.keys.Store(int64(n))
		}
		d.notifier.Status(d.statusLine(rn))
		t.Reset(statusEvery)
	}
}

// statusLine is the one-line summary `systemctl status` shows.
func (d *Daemon) statusLine(rn *running) string {
	keys := "keys not counted yet"
	if n := rn.keys.Load(); n >= 0 {
		keys = fmt.Sprintf("%d keys", n)
	}
	info := rn.tpm.Info()
	return fmt.Sprintf("serving: %s, %d clients, TPM %s %s", keys, rn.core.Connections(), info.Manufacturer, info.Firmware)
}

// keyCount is -1 until the first count.
type keyCount struct{ atomic.Int64 }

// closeOnce closes ch unless it is closed already; only one goroutine
// calls it.
func closeOnce(ch chan struct{}) {
	select {
	case <-ch:
	default:
		close(ch)
	}
}
