//go:build linux

package core

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// lockedArena maps n bytes of anonymous private memory, locks them against
// swap and excludes them from core dumps. When the lock or the madvise
// fails, the mapping is still returned (mapped is true), with the error.
func lockedArena(n int) (arena []byte, mapped bool, err error) {
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), false, fmt.Errorf("unix.Mmap: %w", err)
	}
	if err := unix.Madvise(b, unix.MADV_DONTDUMP); err != nil {
		return b, true, fmt.Errorf("unix.Madvise(MADV_DONTDUMP): %w", err)
	}
	if err := unix.Mlock(b); err != nil {
		return b, true, fmt.Errorf("unix.Mlock: %w", err)
	}
	return b, true, nil
}

// freeArena unmaps an arena of lockedArena (munmap also unlocks it).
func freeArena(b []byte) { _ = unix.Munmap(b) }
