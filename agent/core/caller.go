package core

// Caller is the identity of a connection's peer, captured from the kernel
// when the connection was made (SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD)
// and never changed after. Nothing in it comes from live /proc state of a
// pid that may since have been reused.
type Caller struct {
	UID    uint32
	GID    uint32
	PID    int32
	Groups []uint32 // primary and supplementary gids at connect time (SO_PEERGROUPS)
	// Comm is the process's command name, for the audit trail only. It is
	// read through the pid; CommVerified tells that a pidfd taken at
	// connect time proved the pid still named the connecting process when
	// Comm was read. Without it (kernels before 6.5), Comm may belong to
	// another process and is marked unverified in audit records.
	Comm         string
	CommVerified bool
	// Owner is the login the uid belongs to (itself, or the owner of the
	// subordinate range holding it), set by Core.Connect: limits count
	// per owner.
	Owner uint32
}
