//go:build linux

package core

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestArenaLockedAndNotDumped: the kernel shows the arena's mapping as
// locked ("lo") and excluded from core dumps ("dd") in /proc/self/smaps.
func TestArenaLockedAndNotDumped(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil || lim.Cur < cacheSlots*workingKeySize {
		t.Skipf("RLIMIT_MEMLOCK %d is below the arena's %d bytes", lim.Cur, cacheSlots*workingKeySize)
	}
	arena, mapped, err := lockedArena(cacheSlots * workingKeySize)
	if err != nil || !mapped {
		t.Fatalf("lockedArena() = mapped %v, %v; want a locked mapping", mapped, err)
	}
	defer freeArena(arena)
	start := fmt.Sprintf("%x-", uintptr(unsafe.Pointer(&arena[0])))
	smaps, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	var flags string
	in := false
	for _, line := range strings.Split(string(smaps), "\n") {
		if strings.HasPrefix(line, start) {
			in = true
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			flags = line
			break
		}
	}
	f := strings.Fields(flags)
	has := func(fl string) bool {
		for _, x := range f {
			if x == fl {
				return true
			}
		}
		return false
	}
	if !has("lo") || !has("dd") {
		t.Errorf("arena mapping %s VmFlags = %q, want lo (mlocked) and dd (MADV_DONTDUMP)", start, flags)
	}
}
