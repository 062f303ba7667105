package core

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestLargestResponsesFitMinFrame: the largest key description, on a page
// with the longest cursor, and the largest GetRandom fit the smallest
// frame limit a config may set, so fitPage never needs an empty page.
func TestLargestResponsesFitMinFrame(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	pcrs := make([]uint, protocol.MaxPCRIndex+1)
	for i := range pcrs {
		pcrs[i] = uint(i)
	}
	worst := protocol.KeyInfo{Alias: strings.Repeat("a", 128), KeyID: make([]byte, 16), OwnerUID: 1<<32 - 1,
		Algorithm: protocol.AlgRSA3072, Purposes: []string{"sign", "decrypt"}, HasPIN: true, PCRs: pcrs,
		Created: 1 << 62, PublicKey: der}
	page, err := protocol.AppendResponse(nil, protocol.ResponseHeader{Op: protocol.OpListKeys},
		&protocol.ListKeysResponse{Keys: []protocol.KeyInfo{worst}, NextCursor: strings.Repeat("a", 171)})
	if err != nil {
		t.Fatal(err)
	}
	random, _ := protocol.AppendResponse(nil, protocol.ResponseHeader{Op: protocol.OpGetRandom},
		&protocol.GetRandomResponse{Bytes: make([]byte, protocol.MaxRandomBytes)})
	// The largest symmetric key: 64 versions, every field at its widest.
	sym := protocol.KeyInfo{Alias: strings.Repeat("a", 128), KeyID: make([]byte, 16), OwnerUID: 1<<32 - 1,
		Algorithm: protocol.AlgHMACSHA256, Purposes: []string{protocol.PurposeMAC}, HasPIN: true, PCRs: pcrs,
		Created: 1 << 62, MinDecryptionVersion: 1<<32 - 1}
	for i := range store.MaxKeyVersions {
		sym.Versions = append(sym.Versions, protocol.KeyVersionInfo{Number: uint32(1<<32 - 1 - i), Created: 1 << 62, State: protocol.VersionDisabled})
	}
	symPage, err := protocol.AppendResponse(nil, protocol.ResponseHeader{Op: protocol.OpListKeys},
		&protocol.ListKeysResponse{Keys: []protocol.KeyInfo{sym}, NextCursor: strings.Repeat("a", 171)})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string][]byte{"list-page": page, "get-random": random, "symmetric-list-page": symPage} {
		if n := len(f) - protocol.LengthPrefixSize; n > MinFrameSize {
			t.Errorf("largest %s frame = %d bytes, want <= MinFrameSize %d", name, n, MinFrameSize)
		}
	}
	n, _ := protocol.EncodedSize(&sym)
	fitted, err := fitPage(&protocol.ListKeysResponse{Keys: []protocol.KeyInfo{sym, sym, sym}}, MinFrameSize)
	if err != nil || len(fitted.Keys) != 1 || fitted.NextCursor != store.CursorAfter(sym.Alias) {
		t.Errorf("fitPage(3 keys of %d bytes, %d) = %d keys, cursor %q, %v; want 1 and the cursor after it", n, MinFrameSize, len(fitted.Keys), fitted.NextCursor, err)
	}
}
