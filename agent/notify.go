//go:build linux

package agent

import (
	"context"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify messages with daemon.SdNotify(false, ...); all
// methods are no-ops without NOTIFY_SOCKET.
//
// unsetEnvironment is always false: true would unset NOTIFY_SOCKET after the
// first message, and every later STATUS, RELOADING or WATCHDOG would be lost.
// Send errors are dropped: a notification is advice to the service manager,
// and the daemon must serve its clients whether or not systemd listens.
type Notifier struct {
	// send is daemon.SdNotify; a field so that tests can count sends
	// without a socket when they need to.
	send func(state string)
}

// NewNotifier returns a Notifier for the NOTIFY_SOCKET of the environment,
// read at every send.
func NewNotifier() *Notifier {
	return &Notifier{send: func(state string) { _, _ = daemon.SdNotify(false, state) }}
}

// Ready tells systemd that start-up or a reload is complete: READY=1 with
// the status line in the same datagram, so that `systemctl status` never
// shows a stale one.
func (n *Notifier) Ready(status string) {
	n.send(daemon.SdNotifyReady + "\nSTATUS=" + oneLine(status))
}

// Status replaces the line that `systemctl status` shows.
func (n *Notifier) Status(status string) {
	n.send("STATUS=" + oneLine(status))
}

// Reloading announces a reload; Ready ends it. systemd 253 and later need
// MONOTONIC_USEC with RELOADING=1 for Type=notify-reload; older ones ignore it.
func (n *Notifier) Reloading() {
	n.send(strings.TrimSuffix(daemon.SdNotifyReloading+"\n"+daemon.SdNotifyMonotonicUsec(), "\n"))
}

// Stopping announces an orderly shutdown.
func (n *Notifier) Stopping() {
	n.send(daemon.SdNotifyStopping)
}

// Watchdog sends WATCHDOG=1 at half the systemd watchdog interval, but only
// while check (a TPM health probe) succeeds. Returns when ctx is done, or at
// once when no watchdog is configured.
//
// A failing or hanging check withholds the ping, so that a hung TPM makes
// systemd restart the service; the next successful check resumes pinging.
// Each check gets half the interval as its deadline.
func (n *Notifier) Watchdog(ctx context.Context, check func(context.Context) error) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval <= 0 {
		return
	}
	period := interval / 2
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		n.watchdogOnce(ctx, period, check)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (n *Notifier) watchdogOnce(ctx context.Context, timeout time.Duration, check func(context.Context) error) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := check(cctx); err != nil || ctx.Err() != nil {
		return
	}
	n.send(daemon.SdNotifyWatchdog)
}

// oneLine keeps a status to one line: a newline would start a new
// assignment in the sd_notify message, letting text forge READY=1 or the like.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
