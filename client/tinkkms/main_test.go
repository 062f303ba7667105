package tinkkms_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
)

// TestMain starts one swtpm and one real tpmkeyd, and points
// $TPMKEY_SOCKET at it, so that the example dials "" as a program would.
// Without swtpm, or when not root (the client trusts a root server by
// default), the tests are skipped; under CI=true that is a failure.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	stop, err := startFixture()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "tinkkms: test fixture: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "tinkkms: skipping: %v\n", err)
		return 0
	}
	defer stop()
	return m.Run()
}

func startFixture() (stop func(), err error) {
	if os.Getuid() != 0 {
		return nil, fmt.Errorf("not root: the example dials a server that must run as root")
	}
	dir, err := os.MkdirTemp("", "tinkkms-bin")
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	bins, err := e2e.Build(ctx, dir, "cmd/tpmkeyd")
	if err == nil {
		var s *e2e.Stack
		if s, err = e2e.LaunchStack(ctx, bins[0]); err == nil {
			os.Setenv(client.SocketEnv, s.Socket)
			return func() { s.Close(); os.RemoveAll(dir) }, nil
		}
	}
	os.RemoveAll(dir)
	return nil, err
}
