// Package packaging_test builds the .deb with scripts/build-deb.sh and checks
// it: lintian reports no errors, every file has the owner and mode it must
// have, and two builds give the same bytes. Installing it under a real
// systemd is internal/nspawntest's job.
package packaging_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func enabled() bool {
	return os.Getenv("CI") == "true" || os.Getenv("TPMKEYD_PACKAGE_TESTS") == "1"
}

func buildDeb(t *testing.T) string {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.Command("../scripts/build-deb.sh")
	cmd.Env = append(os.Environ(), "DIST="+dist)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build-deb.sh: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "tpmkeyd_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("build-deb.sh made %v, want one tpmkeyd_*.deb", debs)
	}
	if !regexp.MustCompile(`^tpmkeyd_[0-9][^_]*_[a-z0-9]+\.deb$`).MatchString(filepath.Base(debs[0])) {
		t.Errorf("package name %s, want tpmkeyd_<version>_<arch>.deb", filepath.Base(debs[0]))
	}
	return debs[0]
}

func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed: %v", tool, err)
		}
	}
}

func TestDeb(t *testing.T) {
	if !enabled() {
		t.Skip("package build: set TPMKEYD_PACKAGE_TESTS=1 (CI=true runs it)")
	}
	requireTools(t, "dpkg-deb", "dpkg-parsechangelog", "lintian")
	deb := buildDeb(t)

	t.Run("lintian-no-errors", func(t *testing.T) {
		out, _ := exec.Command("lintian", "--tag-display-limit", "0", "-I", deb).CombinedOutput()
		t.Logf("lintian:\n%s", out)
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "E:") {
				t.Errorf("lintian error: %s", line)
			}
		}
	})
	t.Run("owners-and-modes", func(t *testing.T) { checkContents(t, deb) })
	t.Run("control", func(t *testing.T) { checkControl(t, deb) })
	t.Run("reproducible", func(t *testing.T) {
		again := buildDeb(t)
		a, _ := os.ReadFile(deb)
		b, _ := os.ReadFile(again)
		if !bytes.Equal(a, b) {
			t.Errorf("two builds differ (%d and %d bytes), want identical packages", len(a), len(b))
		}
	})
}

// checkContents reads `dpkg-deb -c` and checks each shipped path's mode and
// owner; everything must be root:root, and nothing else may be shipped.
func checkContents(t *testing.T, deb string) {
	out, err := exec.Command("dpkg-deb", "-c", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"./usr/bin/tpmkeyd":                               "-rwxr-xr-x",
		"./usr/bin/tpmkey":                                "-rwxr-xr-x",
		"./usr/lib/systemd/system/tpmkeyd.service":        "-rw-r--r--",
		"./usr/lib/systemd/system/tpmkeyd.socket":         "-rw-r--r--",
		"./usr/lib/systemd/system/tpmkeyd-ssh.socket":     "-rw-r--r--",
		"./usr/lib/systemd/system/tpmkeyd-backup.service": "-rw-r--r--",
		"./usr/lib/systemd/system/tpmkeyd-backup.timer":   "-rw-r--r--",
		"./usr/share/doc/tpmkeyd/BACKUP.md":               "-rw-r--r--",
		"./usr/lib/sysusers.d/tpmkeyd.conf":               "-rw-r--r--",
		"./etc/tpmkeyd/tpmkeyd.toml":                      "-rw-r--r--",
		"./usr/share/doc/tpmkeyd/copyright":               "-rw-r--r--",
		"./usr/share/doc/tpmkeyd/changelog.Debian.gz":     "-rw-r--r--",
		"./usr/share/man/man8/tpmkeyd.8.gz":               "-rw-r--r--",
		"./usr/share/man/man1/tpmkey.1.gz":                "-rw-r--r--",
	}
	// The PKCS#11 socket and the p11-kit module config (docs/PKCS11.md).
	want["./usr/lib/systemd/system/tpmkeyd-pkcs11.socket"] = "-rw-r--r--"
	want["./usr/share/p11-kit/modules/tpmkeyd.module"] = "-rw-r--r--"
	seen := map[string]bool{}
	var mtime string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb -c line %q", line)
		}
		mode, owner, date, path := f[0], f[1], f[3]+" "+f[4], f[5]
		if owner != "root/root" {
			t.Errorf("%s owner = %s, want root/root", path, owner)
		}
		if mtime == "" {
			mtime = date
		} else if date != mtime {
			t.Errorf("%s mtime = %s, want %s like every file (SOURCE_DATE_EPOCH)", path, date, mtime)
		}
		if strings.HasPrefix(mode, "d") {
			if mode != "drwxr-xr-x" {
				t.Errorf("%s mode = %s, want drwxr-xr-x", path, mode)
			}
			continue
		}
		w, ok := want[path]
		if !ok {
			t.Errorf("unexpected file %s in the package", path)
			continue
		}
		seen[path] = true
		if mode != w {
			t.Errorf("%s mode = %s, want %s", path, mode, w)
		}
	}
	for path := range want {
		if !seen[path] {
			t.Errorf("%s missing from the package", path)
		}
	}
}

func checkControl(t *testing.T, deb string) {
	conffiles, err := exec.Command("dpkg-deb", "--ctrl-tarfile", deb).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"./conffiles", "./postinst", "./prerm", "./postrm", "./md5sums", "./control"} {
		if !bytes.Contains(conffiles, []byte(name)) {
			t.Errorf("control archive has no %s", name)
		}
	}
	for field, want := range map[string]string{"Package": "tpmkeyd", "Section": "admin"} {
		out, err := exec.Command("dpkg-deb", "-f", deb, field).Output()
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("dpkg-deb -f %s = %q, %v, want %q", field, out, err, want)
		}
	}
	out, err := exec.Command("dpkg-deb", "-I", deb, "conffiles").Output()
	if err != nil || strings.TrimSpace(string(out)) != "/etc/tpmkeyd/tpmkeyd.toml" {
		t.Errorf("conffiles = %q, %v, want /etc/tpmkeyd/tpmkeyd.toml", out, err)
	}
}
