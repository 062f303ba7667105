package core

import (
	"encoding/base64"
	"fmt"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// listOverhead bounds what a ListKeys response holds besides its keys: the
// map head, "keys" and the array head (at most 3 bytes for 1000 keys),
// "next_cursor" and the longest cursor, a base64url alias.
var listOverhead = 1 + 5 + 3 + 12 + 2 + base64.RawURLEncoding.EncodedLen(store.MaxAliasLen)

// fitPage cuts resp to the keys that fit in one frame of maxFrame bytes
// (docs/PROTOCOL.md §6.8), so that the server never sends more than it
// announced in Hello; the cursor then resumes after the last key sent.
// MinFrameSize is large enough for any one key, so a page never comes
// back empty while keys follow.
func fitPage(resp *protocol.ListKeysResponse, maxFrame uint32) (*protocol.ListKeysResponse, error) {
	room := int(maxFrame) - protocol.ResponseHeaderSize - listOverhead
	for i := range resp.Keys {
		n, err := protocol.EncodedSize(&resp.Keys[i])
		if err != nil {
			return nil, err
		}
		if room -= n; room < 0 {
			if i == 0 {
				return nil, fmt.Errorf("ListKeys: key %q does not fit a %d-byte frame", resp.Keys[0].Alias, maxFrame)
			}
			resp.Keys = resp.Keys[:i]
			resp.NextCursor = store.CursorAfter(resp.Keys[i-1].Alias)
			break
		}
	}
	return resp, nil
}
