// Package native is the socket front end of tpmkeyd's own protocol
// (docs/PROTOCOL.md): it accepts connections, has the core admit each
// caller (core.Core.Connect), reads frames, turns each into a core.Call and
// the core's Result back into a frame. It decides nothing itself: access
// checks, limits, audit and policy are the core's.
package native
