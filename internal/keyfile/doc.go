// Package keyfile reads private keys from PEM or DER files (PKCS #8, SEC1,
// PKCS #1; RFC 5958, RFC 5915, RFC 8017), including passphrase-encrypted
// ones (PKCS #8 PBES2 of RFC 8018, and legacy "Proc-Type: 4,ENCRYPTED"
// PEM), and refuses what a TPM-held tpmkeyd key cannot be: curves other
// than P-256 and P-384, RSA sizes other than 2048 and 3072, and keys whose
// embedded public key does not match the private one. It imports nothing
// of the daemon, so the CLI, the daemon and `tpmkey wrap` share it.
package keyfile
