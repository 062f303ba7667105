// Package pkcs11 is the PKCS#11 front end of tpmkeyd: it serves p11-kit's
// RPC protocol (package rpc) on a Unix socket, so that programs that load
// Debian's stock p11-kit-client.so see a token "tpmkeyd" holding the
// caller's keys (docs/PKCS11.md). It only translates: every key
// operation becomes core.Calls run with core.Session.Do, and access,
// limits, rate costs, audit and the PIN guard stay the core's.
package pkcs11
