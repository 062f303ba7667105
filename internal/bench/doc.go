// Package bench measures tpmkeyd against the TPM it runs on (issue 6): a raw
// go-tpm floor on one swtpm, the same operations through the real tpmkeyd
// binary on a second swtpm started from a copy of the first one's state and
// signing with the floor's own keys, in alternating phases so that ratios
// are taken within one run, and the daemon's start-up, listing and memory with many
// stored keys. cmd/tpmkey-bench prints what Run returns; docs/PERFORMANCE.md
// explains the cases and the targets.
package bench
