package systemd_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyBackupUnits runs systemd-analyze verify on the example backup
// timer and its service (docs/BACKUP.md).
func TestVerifyBackupUnits(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	dir := t.TempDir()
	for _, name := range []string{"tpmkeyd-backup.service", "tpmkeyd-backup.timer", "tpmkeyd.socket", "tpmkeyd.service"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// verify needs binaries that exist on this host.
		s := strings.ReplaceAll(string(data), "/usr/bin/tpmkeyd ", "/bin/true ")
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, unit := range []string{"tpmkeyd-backup.service", "tpmkeyd-backup.timer"} {
		t.Run(strings.ReplaceAll(unit, ".", "-"), func(t *testing.T) {
			out, err := exec.Command(analyze, "verify", "--man=no", filepath.Join(dir, unit)).CombinedOutput()
			if err != nil {
				t.Fatalf("systemd-analyze verify %s: %v\n%s", unit, err, out)
			}
			for _, line := range strings.Split(string(out), "\n") {
				if strings.Contains(line, "tpmkeyd-backup") {
					t.Errorf("systemd-analyze verify %s: %s", unit, line)
				}
			}
		})
	}
}
