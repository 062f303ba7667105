// Package bench measures tpmkeyd against the TPM it runs on (issue 6): a raw
// go-tpm floor on one swtpm, the same operations through the real tpmkeyd
// binary on a second swtpm started from a copy of the first one's state and
// signing with the floor's own keys, in alternating phases so that ratios
// are taken within one run, and the daemon's start-up, listing and memory with many
// stored keys. With Config.Flood it runs the flood part instead (issue 9):
// while uid 65534, a copy of this binary, floods the daemon, the bench's own
// uid signs, and the daemon's memory and watchdog pings are recorded.
// cmd/tpmkey-bench prints what Run returns; docs/PERFORMANCE.md and
// docs/RELIABILITY.md explain the cases and the targets.
package bench
