package bench

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// notifyListener is the bench's NOTIFY_SOCKET: it reads the daemon's
// sd_notify datagrams as systemd would, and records when READY=1 and each
// WATCHDOG=1 arrived.
type notifyListener struct {
	conn  *net.UnixConn
	path  string
	ready chan time.Time // receives the first READY=1
	done  chan struct{}  // closed when the reader has returned

	mu    sync.Mutex
	pings []time.Time // guarded by mu: every WATCHDOG=1, in order
}

func listenNotify(path string) (*notifyListener, error) {
	_ = os.Remove(path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("bench: listen %s: %w", path, err)
	}
	n := &notifyListener{conn: c, path: path, ready: make(chan time.Time, 1), done: make(chan struct{})}
	go n.read()
	return n, nil
}

func (n *notifyListener) read() {
	defer close(n.done)
	buf := make([]byte, 4096)
	sawReady := false
	for {
		m, _, err := n.conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		now := time.Now()
		for line := range strings.Lines(string(buf[:m])) {
			switch strings.TrimSpace(line) {
			case "READY=1":
				if !sawReady {
					sawReady = true
					n.ready <- now
				}
			case "WATCHDOG=1":
				n.mu.Lock()
				n.pings = append(n.pings, now)
				n.mu.Unlock()
			}
		}
	}
}

// watchdogPings returns a copy of the pings so far.
func (n *notifyListener) watchdogPings() []time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]time.Time(nil), n.pings...)
}

func (n *notifyListener) close() {
	n.conn.Close()
	<-n.done
	os.Remove(n.path)
}

// maxGap is the longest interval between consecutive pings that overlaps
// [from, to]. The interval running at to ends at the first ping after to;
// if there is none yet, it is counted up to now (still growing).
func maxGap(pings []time.Time, from, to, now time.Time) time.Duration {
	var (
		longest time.Duration
		prev    time.Time
	)
	for _, p := range pings {
		if !p.After(from) {
			prev = p
			continue
		}
		if prev.IsZero() {
			prev = from
		}
		longest = max(longest, p.Sub(prev))
		if !p.Before(to) {
			return longest
		}
		prev = p
	}
	if prev.IsZero() {
		prev = from
	}
	return max(longest, now.Sub(prev))
}
