package bench

import (
	"context"
	"fmt"
	"sync"
)

// verifyMAC returns the verify-mac-32-bytes case's call: VerifyMAC of the
// digest under the MAC key with the tag the agent gave for it on the first
// call (the key is the floor's, so it is the same tag on both TPMs). A tag
// that does not verify is an error: the bench must not time a failure.
func (e *agentEnv) verifyMAC() func(ctx context.Context, _, _ int) error {
	var once sync.Once
	var tag []byte
	var version uint32
	var tagErr error
	return func(ctx context.Context, _, _ int) error {
		once.Do(func() { tag, version, tagErr = e.shared.MAC(ctx, macAlias, e.digest) })
		if tagErr != nil {
			return tagErr
		}
		ok, err := e.shared.VerifyMAC(ctx, macAlias, e.digest, tag, version)
		if err == nil && !ok {
			err = fmt.Errorf("VerifyMAC(%s, its own tag) = false, want true", macAlias)
		}
		return err
	}
}
