//go:build !linux

package core

import "errors"

// lockedArena is ordinary memory where the daemon cannot lock it.
func lockedArena(n int) ([]byte, bool, error) {
	return make([]byte, n), false, errors.New("memory locking is implemented on Linux only")
}

func freeArena([]byte) {}
