package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

// binaries builds tpmkeyd and tpmkey once per test run, on first use, into a
// 0755 directory that other uids can execute from.
type binaries struct {
	once    sync.Once
	dir     string
	tpmkeyd string
	tpmkey  string
	err     error
}

func (b *binaries) get(t testing.TB) *binaries {
	t.Helper()
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "tpmkey-bin"); b.err != nil {
			return
		}
		if b.err = os.Chmod(b.dir, 0o755); b.err != nil {
			return
		}
		var bins []string
		bins, b.err = e2e.Build(context.Background(), b.dir, "cmd/tpmkeyd", "cmd/tpmkey")
		if b.err == nil {
			b.tpmkeyd, b.tpmkey = bins[0], bins[1]
		}
	})
	if b.err != nil {
		t.Fatalf("building the binaries: %v", b.err)
	}
	return b
}

// testBins is shared by the e2e tests of this package; TestMain removes it.
var testBins = &binaries{}

func TestMain(m *testing.M) {
	code := m.Run()
	if testBins.dir != "" {
		os.RemoveAll(testBins.dir)
	}
	os.Exit(code)
}

// startStack builds the binaries and starts swtpm and tpmkeyd for t.
func startStack(t *testing.T, args ...string) (*e2e.Stack, *swtpmtest.Instance, *binaries) {
	t.Helper()
	swtpmtest.RequireSwtpm(t)
	b := testBins.get(t)
	s, sw := e2e.StartStack(t, b.tpmkeyd, args...)
	return s, sw, b
}

// TestScripts runs testdata/script/*.txt against a fresh swtpm and tpmkeyd
// per script, with the real tpmkey on PATH and openssl checking results.
func TestScripts(t *testing.T) {
	swtpmtest.RequireSwtpm(t)
	swtpmtest.RequireTool(t, "openssl")
	b := testBins.get(t)
	testscript.Run(t, testscript.Params{
		Dir:   filepath.Join("testdata", "script"),
		Setup: func(env *testscript.Env) error { return setupScript(env, b) },
		Cmds:  map[string]func(ts *testscript.TestScript, neg bool, args []string){"daemon": cmdDaemon},
		Condition: func(cond string) (bool, error) {
			if cond == "root" {
				return os.Getuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

func setupScript(env *testscript.Env, b *binaries) error {
	s, err := e2e.LaunchStack(context.Background(), b.tpmkeyd)
	if err != nil {
		return err
	}
	env.Defer(s.Close)
	env.Values["stack"] = s
	env.Setenv("PATH", b.dir+string(os.PathListSeparator)+env.Getenv("PATH"))
	env.Setenv("TPMKEY_SOCKET", s.Socket)
	// Run as a normal user, the daemon runs as that user too.
	env.Setenv(trustUIDEnv, strconv.Itoa(os.Getuid()))
	env.Setenv("STATE", s.StateDir)
	env.Setenv("TPM2TOOLS_TCTI", s.TPM.TCTI())
	return nil
}

// cmdDaemon is the script command "daemon stop|start|restart": a graceful
// stop (SIGTERM) and a start that waits for the socket.
func cmdDaemon(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: daemon stop|start|restart")
	}
	s := ts.Value("stack").(*e2e.Stack)
	switch args[0] {
	case "stop":
		ts.Check(s.StopDaemon())
	case "start":
		ts.Check(s.StartDaemon(context.Background()))
	case "restart":
		ts.Check(s.StopDaemon())
		ts.Check(s.StartDaemon(context.Background()))
	default:
		ts.Fatalf("daemon %s: want stop, start or restart", args[0])
	}
}
