package core

import (
	"context"
	"fmt"
)

// WaitFrame charges one frame to the caller's rate limit (limits.
// requests_per_second, burst), waiting until the bucket holds a token, or
// ctx ends. A front end whose wire library parses and answers some frames
// by itself (the ssh-agent front end: x/crypto answers a malformed request
// without any Call) calls it before each frame is read, so that no kind of
// frame is free to flood with; a flooding caller only slows itself, its
// frames waiting unread in the socket. The frame's Calls are charged as
// usual on top.
func (s *Session) WaitFrame(ctx context.Context) error {
	lim := s.core.Limits()
	if allowN(s.limiter, lim, costFrame) {
		return nil
	}
	if err := s.limiter.WaitN(ctx, costFrame); err != nil {
		return fmt.Errorf("waiting for the rate limit: %w: %w", ErrRateLimited, err)
	}
	return nil
}
