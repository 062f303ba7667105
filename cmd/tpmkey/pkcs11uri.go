package main

import (
	"fmt"
	"strings"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// pkcs11URI is k's RFC 7512 URI on tpmkeyd's PKCS#11 token
// (docs/PKCS11.md §6), or "" for sealed data, which is not an object.
func pkcs11URI(k *client.Key) string {
	typ := "private"
	switch k.Algorithm {
	case client.AlgSealed:
		return ""
	case client.AlgHMACSHA256:
		typ = "secret-key"
	}
	return "pkcs11:token=tpmkeyd;object=" + pctEncode(k.Alias) + ";type=" + typ
}

// pctEncode percent-encodes all but RFC 3986's unreserved characters.
func pctEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
