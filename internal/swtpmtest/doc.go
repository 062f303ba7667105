// Package swtpmtest starts private swtpm simulators for tests and benchmarks:
// one process per test, in a temporary state directory, on free loopback
// ports, already powered on (--flags not-need-init,startup-clear).
//
// In a test, call Start(t); swtpm is killed in t.Cleanup. Outside tests
// (benchmarks, the bench harness), call Launch and Close.
//
// swtpm serves one client connection at a time: helpers here that talk to
// the TPM (TransientHandles, Tool) must be called while nothing else is
// connected.
package swtpmtest
