package agent

// CONTRACT STUB — owned by the systemd/config helper (config*.go, notify*.go).
// Keep names/signatures; replace bodies; delete this file when implemented.

import (
	"context"
	"time"
)

// Config is /etc/tpmkeyd/tpmkeyd.toml. Unknown keys are errors.
type Config struct {
	TPM         string   `toml:"tpm"`          // TPM spec; the --tpm flag wins when given
	AdminGroup  string   `toml:"admin_group"`  // members may list/delete across uids (root always may)
	AllowUsers  []string `toml:"allow_users"`  // names or numeric uids; empty with AllowGroups empty = everyone
	AllowGroups []string `toml:"allow_groups"` // names or numeric gids
	Limits      Limits   `toml:"limits"`
	Audit       Audit    `toml:"audit"`
}

type Limits struct {
	MaxFrameSize         uint32   `toml:"max_frame_size"`              // default 1 MiB
	MaxConnections       int      `toml:"max_connections"`             // default 1024
	MaxConnectionsPerUID int      `toml:"max_connections_per_uid"`     // default 128
	MaxInflightPerConn   int      `toml:"max_inflight_per_connection"` // default 64
	IdleTimeout          Duration `toml:"idle_timeout"`                // default 5m
	ReadTimeout          Duration `toml:"read_timeout"`                // a started frame must complete within this; default 10s
	MaxKeysPerUID        int      `toml:"max_keys_per_uid"`            // default 1000; 0 = unlimited
	RequestsPerSecond    float64  `toml:"requests_per_second"`         // per uid; default 1000; 0 = unlimited
	Burst                int      `toml:"burst"`                       // default 2000
	ShutdownTimeout      Duration `toml:"shutdown_timeout"`            // default 10s
}

type Audit struct {
	Format string `toml:"format"` // "auto" (journal if JOURNAL_STREAM is set, else text), "journal", "json", "text"
	Level  string `toml:"level"`  // log level: debug, info, warn, error; default info
}

// Duration is a time.Duration written as "5m" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(b []byte) error { panic("stub") }
func (d Duration) MarshalText() ([]byte, error)  { panic("stub") }

// DefaultConfig is the configuration without a file.
func DefaultConfig() Config { panic("stub") }

// LoadConfig reads path, applies defaults, then validates; errors name the
// field ("limits.max_connections: must be > 0"). An empty path gives
// DefaultConfig().
func LoadConfig(path string) (Config, error) { panic("stub") }

// Validate checks every field; errors wrap ErrInvalidConfig and name the field.
func (c *Config) Validate() error { panic("stub") }

// WatchConfig watches path's directory (editors replace files by rename) and
// calls onChange, debounced, when path is written, created or renamed. It
// returns when ctx is done.
func WatchConfig(ctx context.Context, path string, debounce time.Duration, onChange func()) error {
	panic("stub")
}

// Notifier sends sd_notify messages with daemon.SdNotify(false, ...); all
// methods are no-ops without NOTIFY_SOCKET.
type Notifier struct{}

func NewNotifier() *Notifier             { panic("stub") }
func (n *Notifier) Ready(status string)  { panic("stub") } // READY=1 + STATUS=
func (n *Notifier) Status(status string) { panic("stub") }
func (n *Notifier) Reloading()           { panic("stub") } // RELOADING=1 (+MONOTONIC_USEC)
func (n *Notifier) Stopping()            { panic("stub") }

// Watchdog sends WATCHDOG=1 at half the systemd watchdog interval, but only
// while check (a TPM health probe) succeeds. Returns when ctx is done, or at
// once when no watchdog is configured.
func (n *Notifier) Watchdog(ctx context.Context, check func(context.Context) error) { panic("stub") }
