//go:build linux

package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// watchHarness runs watchConfig on dir/tpmkeyd.toml and counts onChange calls.
type watchHarness struct {
	t     *testing.T
	dir   string
	path  string
	calls chan struct{}
	done  chan error
}

// The debounce is long compared with the few file operations of a step, so
// that a burst always coalesces; the tests count calls, never time them.
const testDebounce = 300 * time.Millisecond

func startWatch(t *testing.T) *watchHarness {
	t.Helper()
	dir := t.TempDir()
	h := &watchHarness{t: t, dir: dir, path: filepath.Join(dir, "tpmkeyd.toml"),
		calls: make(chan struct{}, 100), done: make(chan error, 1)}
	h.write(h.path, "# initial\n")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	go func() {
		h.done <- watchConfig(ctx, h.path, testDebounce, func() { h.calls <- struct{}{} }, func() { close(ready) })
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("watchConfig = %v, want nil after cancel", err)
		}
	})
	select {
	case <-ready:
	case err := <-h.done:
		t.Fatalf("watchConfig = %v before it was ready", err)
	}
	return h
}

func (h *watchHarness) write(path, body string) {
	h.t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// waitCall waits for one onChange call; the generous deadline is a hang
// guard, not a timing assertion.
func (h *watchHarness) waitCall() {
	h.t.Helper()
	select {
	case <-h.calls:
	case <-time.After(30 * time.Second):
		h.t.Fatal("onChange not called within 30s")
	}
}

// settle proves that no extra call is pending: it makes one more change,
// waits for the call it causes, and then expects the channel to be empty.
// Events are delivered in order, so any call owed to an earlier step would
// have arrived before (or coalesced with) this one.
func (h *watchHarness) settle() {
	h.t.Helper()
	h.write(h.path, "# settle\n")
	h.waitCall()
	if n := len(h.calls); n != 0 {
		h.t.Errorf("onChange called %d more times than expected", n)
	}
}

func TestWatchConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		step  func(h *watchHarness)
		calls int
	}{
		{"write", func(h *watchHarness) { h.write(h.path, "[limits]\n") }, 1},
		{"rename-over", func(h *watchHarness) {
			// vim and most editors: write a temporary file, rename it over.
			tmp := filepath.Join(h.dir, ".tpmkeyd.toml.swp")
			h.write(tmp, "[audit]\n")
			if err := os.Rename(tmp, h.path); err != nil {
				h.t.Fatal(err)
			}
		}, 1},
		{"move-away-and-recreate", func(h *watchHarness) {
			// vim with backupcopy=no: the old file becomes the backup.
			if err := os.Rename(h.path, h.path+"~"); err != nil {
				h.t.Fatal(err)
			}
			h.write(h.path, "[limits]\n")
		}, 1},
		{"debounce", func(h *watchHarness) {
			for range 5 {
				h.write(h.path, "[limits]\n")
			}
		}, 1},
		{"remove", func(h *watchHarness) {
			if err := os.Remove(h.path); err != nil {
				h.t.Fatal(err)
			}
		}, 1},
		{"other-file-ignored", func(h *watchHarness) {
			h.write(filepath.Join(h.dir, "other.toml"), "x = 1\n")
		}, 0},
		{"chmod-ignored", func(h *watchHarness) {
			if err := os.Chmod(h.path, 0o644); err != nil {
				h.t.Fatal(err)
			}
		}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startWatch(t)
			tc.step(h)
			for range tc.calls {
				h.waitCall()
			}
			h.settle()
		})
	}
}

func TestWatchConfigMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "absent", "tpmkeyd.toml")
	if err := WatchConfig(context.Background(), path, time.Millisecond, func() {}); err == nil {
		t.Errorf("WatchConfig(%s) = nil, want an error for a missing directory", path)
	}
}
