package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tpmkeyd/tpmkeyd/client"
)

func (c *cli) sealCommand() *cobra.Command {
	var in, pinFile, pcrs string
	cmd := &cobra.Command{
		Use:   "seal ALIAS [--in F] [--pcrs LIST] [--pin-file F]",
		Short: "Store a secret (1 to 128 bytes) sealed by the TPM",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			opts, err := keygenOptions("", false, pinFile, pcrs) // a sealed secret has no purposes
			if err != nil {
				return err
			}
			secret, err := c.readInput(in)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.Seal(ctx, args[0], secret, opts...)
				clear(secret)
				if err != nil {
					return err
				}
				return c.printKey(k)
			})
		}),
	}
	cmd.Flags().StringVar(&in, "in", "", "secret file (default standard input)")
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding a PIN that unsealing must give")
	cmd.Flags().StringVar(&pcrs, "pcrs", "", "bind the secret to the current values of these SHA-256 PCRs")
	return cmd
}

func (c *cli) unsealCommand() *cobra.Command {
	var out, pinFile string
	cmd := &cobra.Command{
		Use:   "unseal ALIAS [--out F] [--pin-file F]",
		Short: "Print a sealed secret",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				secret, err := cl.Unseal(ctx, args[0], client.WithPIN(pin))
				if err != nil {
					return err
				}
				defer clear(secret)
				return c.emit(out, secret, "secret")
			})
		}),
	}
	cmd.Flags().StringVar(&out, "out", "", "output file, mode 0600 (default standard output)")
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the secret's PIN")
	return cmd
}

// maxRandom bounds `tpmkey random N`.
const maxRandom = 1 << 20

func (c *cli) randomCommand() *cobra.Command {
	var asHex bool
	var out string
	cmd := &cobra.Command{
		Use:   "random N [--hex]",
		Short: "Print N random bytes from the TPM",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[0])
			if err != nil || n < 1 || n > maxRandom {
				return usagef("random: N must be a number from 1 to %d, not %q", maxRandom, args[0])
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				b, err := cl.Random(ctx, n)
				if err != nil {
					return err
				}
				if asHex && !c.json {
					return c.writeOutput(out, []byte(hex.EncodeToString(b)+"\n"))
				}
				return c.emit(out, b, "bytes")
			})
		}),
	}
	cmd.Flags().BoolVar(&asHex, "hex", false, "print hex and a newline instead of raw bytes")
	cmd.Flags().StringVar(&out, "out", "", "output file (default standard output)")
	return cmd
}

// statusJSON is `tpmkey status --json`. Its field names are stable.
type statusJSON struct {
	Socket          string            `json:"socket"`
	ProtocolVersion uint              `json:"protocol_version"`
	ServerUID       uint32            `json:"server_uid"`
	ServerPID       int32             `json:"server_pid"`
	AgentVersion    string            `json:"agent_version"`
	TPMManufacturer string            `json:"tpm_manufacturer"`
	TPMFirmware     string            `json:"tpm_firmware"`
	UptimeSeconds   uint64            `json:"uptime_seconds"`
	Keys            uint64            `json:"keys"`
	Connections     uint64            `json:"connections"`
	KeysPerUID      map[string]uint64 `json:"keys_per_uid,omitempty"`
	TPMLockout      *lockoutJSON      `json:"tpm_lockout,omitempty"`
	TPMQueue        uint64            `json:"tpm_queue,omitempty"`
	SRKName         string            `json:"srk_name,omitempty"` // hex TPM Name of the SRK
}

// lockoutJSON is the TPM's wrong-PIN counter, for admins.
type lockoutJSON struct {
	Counter         uint32 `json:"counter"`
	MaxTries        uint32 `json:"max_tries"`
	IntervalSeconds uint64 `json:"interval_seconds"`
	RecoverySeconds uint64 `json:"recovery_seconds"`
	InLockout       bool   `json:"in_lockout"`
}

func (c *cli) statusCommand() *cobra.Command {
	var srkPub bool
	var srkFormat, srkOut string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the agent's version, the TPM and your key count (admins: per uid)",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				st, err := cl.Status(ctx)
				if err != nil {
					return err
				}
				if srkPub {
					return c.writeSRKPublic(st, srkFormat, srkOut)
				}
				info := cl.ServerInfo()
				j := statusJSON{
					Socket: c.socketPath(), ProtocolVersion: info.Version, ServerUID: info.UID, ServerPID: info.PID,
					AgentVersion: st.AgentVersion, TPMManufacturer: st.TPMManufacturer, TPMFirmware: st.TPMFirmware,
					UptimeSeconds: uint64(st.Uptime.Seconds()), Keys: st.Keys, Connections: st.Connections,
				}
				if len(st.KeysPerUID) > 0 {
					j.KeysPerUID = make(map[string]uint64, len(st.KeysPerUID))
					for uid, n := range st.KeysPerUID {
						j.KeysPerUID[strconv.FormatUint(uint64(uid), 10)] = n
					}
				}
				if l := st.Lockout; l != nil {
					j.TPMLockout = &lockoutJSON{Counter: l.Counter, MaxTries: l.MaxTries, InLockout: l.InLockout,
						IntervalSeconds: uint64(l.Interval.Seconds()), RecoverySeconds: uint64(l.Recovery.Seconds())}
				}
				j.TPMQueue = st.TPMQueue
				j.SRKName = hex.EncodeToString(st.SRKName)
				if c.json {
					return writeJSON(c.out, j)
				}
				c.writeStatusText(j, st.KeysPerUID)
				return nil
			})
		}),
	}
	f := cmd.Flags()
	f.BoolVar(&srkPub, "srk-pub", false, "print the TPM's SRK public key instead: what tpmkey wrap --for, tpm2_duplicate -U and keygen --backup-to take")
	f.StringVar(&srkFormat, "format", "pem", "with --srk-pub: pem (SubjectPublicKeyInfo) or tpm2b (TPM2B_PUBLIC bytes)")
	f.StringVar(&srkOut, "out", "", "with --srk-pub: file to write (default standard output)")
	return cmd
}

func (c *cli) writeStatusText(j statusJSON, perUID map[uint32]uint64) {
	w := c.out
	fmt.Fprintf(w, "socket:      %s (server uid %d, pid %d)\n", j.Socket, j.ServerUID, j.ServerPID)
	fmt.Fprintf(w, "agent:       %s (protocol %d)\n", j.AgentVersion, j.ProtocolVersion)
	fmt.Fprintf(w, "tpm:         %s, firmware %s\n", j.TPMManufacturer, j.TPMFirmware)
	fmt.Fprintf(w, "uptime:      %ds\n", j.UptimeSeconds)
	fmt.Fprintf(w, "connections: %d\n", j.Connections)
	fmt.Fprintf(w, "your keys:   %d\n", j.Keys)
	if j.SRKName != "" {
		fmt.Fprintf(w, "srk name:    %s\n", j.SRKName)
	}
	if l := j.TPMLockout; l != nil {
		fmt.Fprintf(w, "tpm lockout: %d of %d wrong PINs counted, one forgiven every %ds%s\n",
			l.Counter, l.MaxTries, l.IntervalSeconds, map[bool]string{true: " (LOCKED OUT)"}[l.InLockout])
		fmt.Fprintf(w, "tpm queue:   %d waiting\n", j.TPMQueue)
	}
	uids := make([]uint32, 0, len(perUID))
	for uid := range perUID {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	for _, uid := range uids {
		fmt.Fprintf(w, "uid %-8d %d keys\n", uid, perUID[uid])
	}
}
