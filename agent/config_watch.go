//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// WatchConfig watches path's directory (editors replace files by rename) and
// calls onChange, debounced, when path is written, created or renamed. It
// returns when ctx is done.
//
// Removing the file also counts as a change: LoadConfig then gives the
// defaults. onChange runs on the watcher's goroutine, so a slow reload delays
// later events but never loses the last one.
func WatchConfig(ctx context.Context, path string, debounce time.Duration, onChange func()) error {
	return watchConfig(ctx, path, debounce, onChange, nil)
}

// watchConfig is WatchConfig with a hook called once the watch is in place,
// so that tests can write the file without racing the watcher's start.
func watchConfig(ctx context.Context, path string, debounce time.Duration, onChange func(), ready func()) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("filepath.Abs: %w", err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("fsnotify.NewWatcher: %w", err)
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(abs)); err != nil {
		return fmt.Errorf("fsnotify.Watcher.Add: %w", err)
	}
	if ready != nil {
		ready()
	}

	// A stopped timer stands for "nothing pending"; each relevant event
	// restarts it, so a burst of writes becomes one call after it settles.
	timer := time.NewTimer(debounce)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("fsnotify: watcher closed")
			}
			if relevantEvent(ev, abs) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("fsnotify: watcher closed")
			}
			// An overflow loses events, so reload to be safe rather than miss one.
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				timer.Reset(debounce)
				continue
			}
			return fmt.Errorf("fsnotify: %w", err)
		case <-timer.C:
			onChange()
		}
	}
}

// relevantEvent reports whether ev changes the file at abs. A chmod alone
// does not change the content.
func relevantEvent(ev fsnotify.Event, abs string) bool {
	if filepath.Clean(ev.Name) != abs {
		return false
	}
	return ev.Has(fsnotify.Write) || ev.Has(fsnotify.Create) || ev.Has(fsnotify.Rename) || ev.Has(fsnotify.Remove)
}
