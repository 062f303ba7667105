package core

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is /etc/tpmkeyd/tpmkeyd.toml. Unknown keys are errors.
//
// A Config is immutable once validated: a reload builds a new one and swaps
// it in, so readers never need a lock.
type Config struct {
	TPM         string   `toml:"tpm"`          // TPM spec; the --tpm flag wins when given
	AdminGroup  string   `toml:"admin_group"`  // members may list/delete across uids (root always may)
	AllowUsers  []string `toml:"allow_users"`  // names or numeric uids; empty with AllowGroups empty = everyone
	AllowGroups []string `toml:"allow_groups"` // names or numeric gids
	SubUIDFile  string   `toml:"subuid_file"`  // subordinate uids counted against their owner's limits; default /etc/subuid, "" = none
	Limits      Limits   `toml:"limits"`
	Audit       Audit    `toml:"audit"`
	Backup      Backup   `toml:"backup"`
	// AEADKeyCacheTTL is how long an aes-256-gcm working key stays cached
	// after its last use; default 5m, 0 = never cached (every AEAD
	// operation then derives it in the TPM).
	AEADKeyCacheTTL Duration `toml:"aead_key_cache_ttl"`
	// SSHAllowSHA1 lets the ssh-agent socket sign ssh-rsa (RSA with SHA-1)
	// for servers that know nothing newer; default false: refused.
	SSHAllowSHA1 bool `toml:"ssh_allow_sha1"`
	// SSHAskpass is the program that confirms each use of a key added
	// with ssh-add -c (ssh_confirm.go); "": ssh-add -c is refused.
	SSHAskpass string `toml:"ssh_askpass"`
	// PKCS11AllowSHA1 lets Sign take hash "sha1" for RSA PKCS #1 v1.5
	// (the PKCS#11 token's CKM_RSA_PKCS over a SHA-1 DigestInfo, which
	// pkcs11-tool --test and old TLS clients send); default false: refused.
	PKCS11AllowSHA1 bool `toml:"pkcs11_allow_sha1"`

	// ids holds AdminGroup, AllowUsers and AllowGroups resolved to numeric
	// ids by Validate, so that access checks never consult the user
	// database on the request path.
	ids *accessIDs
}

// Limits bound what one client, one owner and all clients together can
// use. An owner is a login: a uid together with its subordinate uids
// (subuid_file); every per-uid limit below counts per owner.
type Limits struct {
	MaxFrameSize         uint32   `toml:"max_frame_size"`              // default 1 MiB
	MaxConnections       int      `toml:"max_connections"`             // default 1024
	MaxConnectionsPerUID int      `toml:"max_connections_per_uid"`     // per owner; default 128
	AdminReserved        int      `toml:"admin_reserved_connections"`  // of max_connections, kept for root and the admin group; default 8
	MaxInflightPerConn   int      `toml:"max_inflight_per_connection"` // default 64
	IdleTimeout          Duration `toml:"idle_timeout"`                // default 5m
	ReadTimeout          Duration `toml:"read_timeout"`                // a started frame must complete within this; default 10s
	MaxKeysPerUID        int      `toml:"max_keys_per_uid"`            // default 1000; 0 = unlimited
	RequestsPerSecond    float64  `toml:"requests_per_second"`         // per uid; default 1000; 0 = unlimited
	Burst                int      `toml:"burst"`                       // default 2000
	MaxInflightBytes     int64    `toml:"max_inflight_bytes"`          // request bytes held at once, all owners; default 64 MiB
	MaxInflightBytesUID  int64    `toml:"max_inflight_bytes_per_uid"`  // per owner; default 16 MiB; >= max_frame_size
	MaxQueuedTPMPerUID   int      `toml:"max_queued_tpm_per_uid"`      // TPM jobs waiting per owner; past it BUSY; default 128
	ShutdownTimeout      Duration `toml:"shutdown_timeout"`            // default 10s
}

// Audit selects where and how much the daemon logs.
type Audit struct {
	Format string `toml:"format"` // "auto" (journal if JOURNAL_STREAM is set, else text), "journal", "json", "text"
	Level  string `toml:"level"`  // log level: debug, info, warn, error; default info
}

// Bounds of the frame limit: 2 KiB holds every response whose size the
// server does not choose (the largest is a GetRandom of 1024 bytes; a
// ListKeys page holds at least one key: ~1 KiB, or ~3.4 KiB for a symmetric
// key with 64 versions), and above 16 MiB
// one client could make the daemon hold a large buffer per request.
const (
	MinFrameSize = 4 << 10
	MaxFrameSize = 16 << 20
)

// Duration is a time.Duration written as "5m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string such as "90s" or "5m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("time.ParseDuration: %w", err)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as time.Duration.String does.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// DefaultConfig is the configuration without a file.
func DefaultConfig() Config {
	c := Config{
		Limits: Limits{
			MaxFrameSize:         1 << 20,
			MaxConnections:       1024,
			MaxConnectionsPerUID: 128,
			AdminReserved:        8,
			MaxInflightPerConn:   64,
			IdleTimeout:          Duration{5 * time.Minute},
			ReadTimeout:          Duration{10 * time.Second},
			MaxKeysPerUID:        1000,
			RequestsPerSecond:    1000,
			Burst:                2000,
			MaxInflightBytes:     64 << 20,
			MaxInflightBytesUID:  16 << 20,
			MaxQueuedTPMPerUID:   128,
			ShutdownTimeout:      Duration{10 * time.Second},
		},
		Audit:           Audit{Format: "auto", Level: "info"},
		SubUIDFile:      DefaultSubUIDFile,
		AEADKeyCacheTTL: Duration{5 * time.Minute},
	}
	c.ids = &accessIDs{}
	return c
}

// LoadConfig reads path, applies defaults, then validates; errors name the
// field ("limits.max_connections: must be > 0"). An empty path gives
// DefaultConfig().
//
// A path that does not exist also gives DefaultConfig(): the package ships
// the file as a conffile, and an admin who deletes it asks for the defaults,
// as with systemd's own /etc/systemd/*.conf. Any other read error is fatal.
//
// Keys present in the file override the defaults; keys left out keep them.
// So an explicit 0 is kept (and rejected where 0 is not allowed), never
// silently replaced by the default.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("os.ReadFile: %w", err)
	}
	md, err := toml.Decode(string(data), &c)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("%w: %s: unknown key %s", ErrInvalidConfig, path, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Validate checks every field; errors wrap ErrInvalidConfig and name the field.
// It also resolves the user and group names to ids, so that a name unknown to
// the user database is reported here and not on a client's request.
func (c *Config) Validate() error {
	if err := c.Limits.validate(); err != nil {
		return err
	}
	if err := c.Audit.validate(); err != nil {
		return err
	}
	if err := c.Backup.validate(); err != nil {
		return err
	}
	if c.AEADKeyCacheTTL.Duration < 0 {
		return fieldError("aead_key_cache_ttl", "must be >= 0")
	}
	if c.SSHAskpass != "" && !strings.HasPrefix(c.SSHAskpass, "/") {
		return fieldError("ssh_askpass", "must be an absolute path")
	}
	ids, err := resolveAccess(c.AdminGroup, c.AllowUsers, c.AllowGroups)
	if err != nil {
		return err
	}
	c.ids = ids
	return nil
}

func (l *Limits) validate() error {
	if l.MaxFrameSize < MinFrameSize || l.MaxFrameSize > MaxFrameSize {
		return fieldError("limits.max_frame_size", "must be between %d and %d bytes, got %d", MinFrameSize, MaxFrameSize, l.MaxFrameSize)
	}
	positive := []struct {
		field string
		value int
	}{
		{"limits.max_connections", l.MaxConnections},
		{"limits.max_connections_per_uid", l.MaxConnectionsPerUID},
		{"limits.max_inflight_per_connection", l.MaxInflightPerConn},
		{"limits.burst", l.Burst},
		{"limits.max_queued_tpm_per_uid", l.MaxQueuedTPMPerUID},
	}
	for _, p := range positive {
		if p.value <= 0 {
			return fieldError(p.field, "must be > 0, got %d", p.value)
		}
	}
	if l.MaxConnectionsPerUID > l.MaxConnections {
		return fieldError("limits.max_connections_per_uid", "must be <= limits.max_connections (%d), got %d", l.MaxConnections, l.MaxConnectionsPerUID)
	}
	if l.AdminReserved < 0 || l.AdminReserved >= l.MaxConnections {
		return fieldError("limits.admin_reserved_connections", "must be >= 0 and < limits.max_connections (%d), got %d", l.MaxConnections, l.AdminReserved)
	}
	if l.MaxInflightBytesUID < int64(l.MaxFrameSize) {
		return fieldError("limits.max_inflight_bytes_per_uid", "must be >= limits.max_frame_size (%d), got %d", l.MaxFrameSize, l.MaxInflightBytesUID)
	}
	if l.MaxInflightBytes < l.MaxInflightBytesUID {
		return fieldError("limits.max_inflight_bytes", "must be >= limits.max_inflight_bytes_per_uid (%d), got %d", l.MaxInflightBytesUID, l.MaxInflightBytes)
	}
	if l.MaxKeysPerUID < 0 {
		return fieldError("limits.max_keys_per_uid", "must be >= 0 (0 = unlimited), got %d", l.MaxKeysPerUID)
	}
	// NaN fails every comparison, so test for the valid range, not the invalid one.
	if !(l.RequestsPerSecond >= 0 && l.RequestsPerSecond <= 1e9) {
		return fieldError("limits.requests_per_second", "must be between 0 (unlimited) and 1e9, got %v", l.RequestsPerSecond)
	}
	durations := []struct {
		field string
		value Duration
	}{
		{"limits.idle_timeout", l.IdleTimeout},
		{"limits.read_timeout", l.ReadTimeout},
		{"limits.shutdown_timeout", l.ShutdownTimeout},
	}
	for _, d := range durations {
		if d.value.Duration <= 0 {
			return fieldError(d.field, "must be > 0, got %s", d.value.Duration)
		}
	}
	return nil
}

// The values Audit accepts.
const (
	auditFormats = "auto, journal, json, text"
	logLevels    = "debug, info, warn, error"
)

func (a *Audit) validate() error {
	if !contains(auditFormats, a.Format) {
		return fieldError("audit.format", "must be one of %s, got %q", auditFormats, a.Format)
	}
	if !contains(logLevels, a.Level) {
		return fieldError("audit.level", "must be one of %s, got %q", logLevels, a.Level)
	}
	return nil
}

// contains reports whether s is one of the comma-separated values in list.
func contains(list, s string) bool {
	for _, v := range strings.Split(list, ", ") {
		if v == s {
			return true
		}
	}
	return false
}

func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}
