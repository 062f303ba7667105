package bench

import "errors"

var (
	// ErrNoReady means the daemon exited or timed out before it sent READY=1.
	ErrNoReady = errors.New("bench: tpmkeyd did not report READY=1")
	// ErrBadCount means a listing returned a different number of keys than stored.
	ErrBadCount = errors.New("bench: wrong key count")
	// ErrUnknownCase means Config.Cases names a case that does not exist.
	ErrUnknownCase = errors.New("bench: unknown case")
	// ErrSRKMismatch means the two swtpm instances do not have the same SRK,
	// so the agent cannot use the floor's keys.
	ErrSRKMismatch = errors.New("bench: swtpm #1 and #2 have different SRKs")
	// ErrNoOps means a measured phase completed no operation at all.
	ErrNoOps = errors.New("bench: phase completed no operation")
	// ErrUnknownScenario means FloodConfig.Scenarios names a scenario that
	// does not exist.
	ErrUnknownScenario = errors.New("bench: unknown flood scenario")
	// ErrNeedRoot means the flood part was asked for without root: it runs
	// the flooder as another uid.
	ErrNeedRoot = errors.New("bench: the flood part needs root (it runs the flooder as uid 65534)")
)
