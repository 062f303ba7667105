package core

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tpmkeyd.toml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadConfigDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		path func(t *testing.T) string
	}{
		{"empty-path", func(*testing.T) string { return "" }},
		{"missing-file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent.toml") }},
		{"empty-file", func(t *testing.T) string { return writeConfig(t, "") }},
		{"comments-only", func(t *testing.T) string { return writeConfig(t, "# nothing\n") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(tc.path(t))
			if err != nil {
				t.Fatalf("LoadConfig = %v, want nil", err)
			}
			want := DefaultConfig()
			if c.Limits != want.Limits || c.Audit != want.Audit || c.TPM != "" || c.AdminGroup != "" {
				t.Errorf("LoadConfig = %+v, want %+v", c, want)
			}
		})
	}
}

func TestDefaultConfigValid(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v, want nil", err)
	}
	if c.Limits.MaxFrameSize != 1<<20 || c.Limits.IdleTimeout.Duration != 5*time.Minute {
		t.Errorf("DefaultConfig().Limits = %+v, want 1 MiB frames and 5m idle", c.Limits)
	}
}

func TestLoadConfigOverrides(t *testing.T) {
	path := writeConfig(t, `
tpm = "swtpm:unix:///run/swtpm/sock"
admin_group = "0"
allow_users = ["root", "1000"]
allow_groups = ["0"]

[limits]
max_frame_size = 65536
max_connections = 10
max_connections_per_uid = 2
idle_timeout = "90s"
max_keys_per_uid = 0
requests_per_second = 0.5

[audit]
format = "json"
level = "debug"
`)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig = %v, want nil", err)
	}
	want := DefaultConfig().Limits
	want.MaxFrameSize = 65536
	want.MaxConnections = 10
	want.MaxConnectionsPerUID = 2
	want.IdleTimeout = Duration{90 * time.Second}
	want.MaxKeysPerUID = 0
	want.RequestsPerSecond = 0.5
	if c.Limits != want {
		t.Errorf("LoadConfig().Limits = %+v, want %+v", c.Limits, want)
	}
	if c.Audit != (Audit{Format: "json", Level: "debug"}) {
		t.Errorf("LoadConfig().Audit = %+v, want json/debug", c.Audit)
	}
	if c.TPM != "swtpm:unix:///run/swtpm/sock" {
		t.Errorf("LoadConfig().TPM = %q, want the swtpm spec", c.TPM)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown-top-key", `tmp = "x"`, "unknown key tmp"},
		{"unknown-nested-key", "[limits]\nmax_conections = 3", "unknown key limits.max_conections"},
		{"unknown-table", "[logging]\nlevel = \"info\"", "unknown key logging"},
		{"syntax", "limits = [", "tpmkeyd.toml"},
		{"wrong-type", "[limits]\nmax_connections = \"many\"", "max_connections"},
		{"bad-duration", "[limits]\nidle_timeout = \"5 minutes\"", "idle_timeout"},
		{"frame-too-small", "[limits]\nmax_frame_size = 4095", "limits.max_frame_size: must be between 4096 and 16777216"},
		{"frame-too-large", "[limits]\nmax_frame_size = 16777217", "limits.max_frame_size"},
		{"zero-connections", "[limits]\nmax_connections = 0", "limits.max_connections: must be > 0"},
		{"per-uid-over-total", "[limits]\nmax_connections = 4\nmax_connections_per_uid = 5", "limits.max_connections_per_uid: must be <="},
		{"zero-inflight", "[limits]\nmax_inflight_per_connection = 0", "limits.max_inflight_per_connection: must be > 0"},
		{"negative-keys", "[limits]\nmax_keys_per_uid = -1", "limits.max_keys_per_uid: must be >= 0"},
		{"negative-rate", "[limits]\nrequests_per_second = -1.0", "limits.requests_per_second"},
		{"nan-rate", "[limits]\nrequests_per_second = nan", "limits.requests_per_second"},
		{"zero-burst", "[limits]\nburst = 0", "limits.burst: must be > 0"},
		{"zero-idle", "[limits]\nidle_timeout = \"0s\"", "limits.idle_timeout: must be > 0"},
		{"negative-read", "[limits]\nread_timeout = \"-1s\"", "limits.read_timeout: must be > 0"},
		{"zero-shutdown", "[limits]\nshutdown_timeout = \"0s\"", "limits.shutdown_timeout: must be > 0"},
		{"bad-format", "[audit]\nformat = \"xml\"", "audit.format: must be one of auto, journal, json, text"},
		{"bad-level", "[audit]\nlevel = \"trace\"", "audit.level: must be one of"},
		{"unknown-admin-group", `admin_group = "no-such-group-tpmkeyd"`, "admin_group:"},
		{"unknown-user", `allow_users = ["root", "no-such-user-tpmkeyd"]`, "allow_users[1]:"},
		{"unknown-group", `allow_groups = ["no-such-group-tpmkeyd"]`, "allow_groups[0]:"},
		{"relative-askpass", `ssh_askpass = "confirm.sh"`, "ssh_askpass: must be an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(writeConfig(t, tc.body))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("LoadConfig(%q) = %v, want ErrInvalidConfig", tc.body, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LoadConfig(%q) = %q, want it to contain %q", tc.body, err, tc.want)
			}
		})
	}
}

func TestLoadConfigUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory is not a readable file, even for root
	if _, err := LoadConfig(dir); err == nil || errors.Is(err, ErrInvalidConfig) {
		t.Errorf("LoadConfig(dir) = %v, want a read error", err)
	}
}

func TestDurationText(t *testing.T) {
	var d Duration
	if err := d.UnmarshalText([]byte("1m30s")); err != nil || d.Duration != 90*time.Second {
		t.Fatalf("UnmarshalText(1m30s) = %v, %v, want 1m30s, nil", d.Duration, err)
	}
	b, err := d.MarshalText()
	if err != nil || string(b) != "1m30s" {
		t.Errorf("MarshalText() = %q, %v, want 1m30s, nil", b, err)
	}
	if err := d.UnmarshalText([]byte("soon")); err == nil {
		t.Errorf("UnmarshalText(soon) = nil, want an error")
	}
}

// The example config shipped in the package must load and must document
// every key of Config: encode the defaults and check each key appears.
func TestExampleConfig(t *testing.T) {
	const example = "../../packaging/tpmkeyd.toml"
	body, err := os.ReadFile(example)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(example); err != nil {
		t.Fatalf("LoadConfig(%s) = %v, want nil", example, err)
	}
	var keys map[string]any
	var sb strings.Builder
	if err := toml.NewEncoder(&sb).Encode(DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	md, err := toml.Decode(sb.String(), &keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range md.Keys() {
		leaf := k[len(k)-1]
		if !strings.Contains(string(body), leaf+" =") && len(k) > 1 {
			t.Errorf("%s does not document %s", example, k)
		}
	}
	for _, leaf := range []string{"tpm", "admin_group", "allow_users", "allow_groups"} {
		if !strings.Contains(string(body), leaf+" =") {
			t.Errorf("%s does not document %s", example, leaf)
		}
	}
}

func TestAccess(t *testing.T) {
	root, err := user.LookupGroupId("0")
	if err != nil {
		t.Skip("no group 0 in the user database")
	}
	for _, tc := range []struct {
		name    string
		cfg     string
		uid     uint32
		gid     uint32
		groups  []uint32
		allowed bool
		admin   bool
	}{
		{"everyone-by-default", "", 1000, 1000, nil, true, false},
		{"root-is-admin", "", 0, 0, nil, true, true},
		{"admin-group-by-name", `admin_group = "` + root.Name + `"`, 1000, 1000, []uint32{0}, true, true},
		{"admin-group-primary-gid", `admin_group = "0"`, 1000, 0, nil, true, true},
		{"not-in-admin-group", `admin_group = "0"`, 1000, 1000, []uint32{27}, true, false},
		{"allow-user-listed", `allow_users = ["1000"]`, 1000, 1000, nil, true, false},
		{"allow-user-not-listed", `allow_users = ["1000"]`, 1001, 1001, nil, false, false},
		{"allow-group-supplementary", `allow_groups = ["27"]`, 1001, 1001, []uint32{5, 27}, true, false},
		{"allow-group-primary", `allow_groups = ["27"]`, 1001, 27, nil, true, false},
		{"allow-group-not-member", `allow_groups = ["27"]`, 1001, 1001, []uint32{5}, false, false},
		{"root-always-allowed", `allow_users = ["1000"]`, 0, 0, nil, true, true},
		{"admin-always-allowed", "admin_group = \"50\"\nallow_users = [\"1000\"]", 1002, 1002, []uint32{50}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(writeConfig(t, tc.cfg))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Allowed(tc.uid, tc.gid, tc.groups); got != tc.allowed {
				t.Errorf("Allowed(%d, %d, %v) = %v, want %v", tc.uid, tc.gid, tc.groups, got, tc.allowed)
			}
			all := append([]uint32{tc.gid}, tc.groups...)
			if got := c.IsAdmin(tc.uid, all); got != tc.admin {
				t.Errorf("IsAdmin(%d, %v) = %v, want %v", tc.uid, all, got, tc.admin)
			}
		})
	}
}

func TestAccessUnvalidated(t *testing.T) {
	c := Config{AllowUsers: []string{"no-such-user-tpmkeyd"}}
	if c.Allowed(1000, 1000, nil) {
		t.Errorf("Allowed(1000) on an unresolvable allow list = true, want false")
	}
	c = Config{AllowUsers: []string{"1000"}}
	if !c.Allowed(1000, 1000, nil) {
		t.Errorf("Allowed(1000) with allow_users [1000] = false, want true")
	}
}
