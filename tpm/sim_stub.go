//go:build !simulator

package tpm

import (
	"context"
	"fmt"

	"github.com/google/go-tpm/tpm2/transport"
)

// openSimulator is unavailable in release builds: the simulator needs cgo
// and must never ship.
func openSimulator(context.Context, string) (transport.TPMCloser, error) {
	return nil, fmt.Errorf("%w: the sim: TPM needs a build with -tags simulator (and cgo)", ErrUnsupported)
}
