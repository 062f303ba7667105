package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal (golang.org/x/term does the
// same ioctl; it is not a dependency here).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress shows "what... 1.2s" on stderr, refreshed every 200 ms, while a
// slow operation runs, when enabled and stderr is a terminal. The returned
// func stops it and clears the line.
func (c *cli) progress(what string, enabled bool) (stop func()) {
	if !enabled || !isTerminal(c.err) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		frames := []string{"|", "/", "-", "\\"}
		for i := 0; ; i++ {
			fmt.Fprintf(c.err, "\r%s %s %.1fs ", frames[i%len(frames)], what, time.Since(start).Seconds())
			select {
			case <-done:
				fmt.Fprint(c.err, "\r\033[K")
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}
