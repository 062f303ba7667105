// Package wrap builds TPM 2.0 objects from existing keys and wraps them for
// a storage parent in software, in the duplication format TPM2_Import
// reads (TPM 2.0 Part 1 §23.3 "Duplication", §24 "Protected Storage":
// an outer wrapper only; the seed is encrypted to the parent with its
// asymmetric key, label "DUPLICATE"; the sensitive area is encrypted with
// KDFa(nameAlg, seed, "STORAGE", name) in AES-CFB and MACed with
// KDFa(nameAlg, seed, "INTEGRITY") over encSensitive || name). It needs no
// TPM and imports nothing of the daemon, so `tpmkey wrap` runs anywhere.
package wrap
