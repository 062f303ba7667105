package client_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
)

// TestMain starts one swtpm and one real tpmkeyd for the examples and the
// TestReal tests, and points $TPMKEY_SOCKET at it so that the examples can
// dial "" as a program would. Without swtpm, or when not root (the client
// trusts only a root server by default), those are skipped — except under
// CI=true, where a missing fixture is a failure.
func TestMain(m *testing.M) {
	// The trust tests run this binary as a fake agent under another uid.
	if code, asked := client.ServeIfAsked(); asked {
		os.Exit(code)
	}
	flag.Parse()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	stop, err := startFixture()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "client: test fixture: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "client: skipping examples and TestReal*: %v\n", err)
		flag.Set("test.skip", "^(Example|TestReal)")
		return m.Run()
	}
	defer stop()
	return m.Run()
}

func startFixture() (stop func(), err error) {
	if os.Getuid() != 0 {
		return nil, fmt.Errorf("not root: the examples dial a server that must run as root")
	}
	dir, err := os.MkdirTemp("", "tpmkey-client-bin")
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	bins, err := e2e.Build(ctx, dir, "cmd/tpmkeyd")
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s, err := e2e.LaunchStack(ctx, bins[0])
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	os.Setenv(client.SocketEnv, s.Socket)
	return func() { s.Close(); os.RemoveAll(dir) }, nil
}
