// Package crosscheck holds checks of tpmkeyd's formats by independent
// implementations in other languages, written from docs/FORMATS.md only:
// stream_decrypt.py (Python 3, Debian's python3-cryptography) decrypts
// the stream envelope of package client/stream.
package crosscheck
