package swtpmtest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Instance is a Process owned by one test.
type Instance struct {
	*Process
	t testing.TB
}

// Start launches a private swtpm for t and kills it in t.Cleanup. Without
// swtpm the test is skipped, except under CI=true, where it fails.
func Start(t testing.TB, extraFlags ...string) *Instance {
	t.Helper()
	RequireSwtpm(t)
	p, err := Launch(context.Background(), Config{StateDir: t.TempDir(), ExtraFlags: extraFlags})
	if err != nil {
		t.Fatalf("swtpmtest.Launch: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return &Instance{Process: p, t: t}
}

// RequireSwtpm skips t when swtpm is missing, or fails it under CI=true.
func RequireSwtpm(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		Missing(t, ErrNoSwtpm)
	}
}

// RequireTool is RequireSwtpm for another binary (tpm2_getcap, openssl ...).
func RequireTool(t testing.TB, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		Missing(t, errors.New(name+" not found in PATH"))
	}
}

// Missing skips t because of err, or fails it under CI=true.
func Missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required for CI: %v", err)
	}
	t.Skipf("skipping: %v", err)
}

// MustRestart restarts swtpm on the same state.
func (i *Instance) MustRestart() {
	i.t.Helper()
	if err := i.Restart(context.Background()); err != nil {
		i.t.Fatalf("swtpm restart: %v", err)
	}
}

// MustWipe replaces the TPM with a brand-new one.
func (i *Instance) MustWipe() {
	i.t.Helper()
	if err := i.Wipe(context.Background()); err != nil {
		i.t.Fatalf("swtpm wipe: %v", err)
	}
}

// AssertNoTransients fails the test if any transient object or loaded
// session is left on the TPM. Call it after the code under test has closed
// its connection.
func (i *Instance) AssertNoTransients() {
	i.t.Helper()
	hs, err := i.TransientHandles()
	if err != nil {
		i.t.Fatalf("TransientHandles: %v", err)
	}
	ss, err := i.LoadedSessions()
	if err != nil {
		i.t.Fatalf("LoadedSessions: %v", err)
	}
	if len(hs) != 0 || len(ss) != 0 {
		i.t.Errorf("TPM left with transient handles %v and sessions %v, want none", hs, ss)
	}
}

// Tool runs a tpm2-tools command against this swtpm and returns its output.
func (i *Instance) Tool(name string, args ...string) []byte {
	i.t.Helper()
	RequireTool(i.t, name)
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "TPM2TOOLS_TCTI="+i.TCTI())
	out, err := cmd.CombinedOutput()
	if err != nil {
		i.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// RequireRoot skips t unless it runs as root, or fails it under CI=true,
// where the tests run as root. why says what the test needs root for.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Getuid() != 0 {
		Missing(t, errors.New("needs root to "+why))
	}
}

// SetLockout is Process.SetLockout, failing t on error.
func (i *Instance) SetLockout(maxTries uint32, interval, recovery time.Duration) {
	i.t.Helper()
	RequireTool(i.t, "tpm2_dictionarylockout")
	if err := i.Process.SetLockout(maxTries, interval, recovery); err != nil {
		i.t.Fatal(err)
	}
}
