package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// sshCommand is `tpmkey ssh`: which keys the daemon's ssh-agent socket
// offers, their authorized_keys lines, and PIN keys unlocked for ssh.
func (c *cli) sshCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ssh",
		Short: "Offer keys to ssh through the daemon's ssh-agent socket",
		Long: `The daemon's ssh-agent socket (SSH_AUTH_SOCK=/run/tpmkeyd/ssh-agent.sock)
lists only the keys marked for ssh: enable marks a key, disable unmarks it
(the key stays; only tpmkey rm deletes it). A key with a PIN signs over ssh
only after unlock, which keeps its authorization in the daemon's memory for
a while (never on disk).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return usagef("ssh: give enable, disable, list, pubkey or unlock")
		},
	}
	cmd.AddCommand(c.sshEnableCommand(), c.sshDisableCommand(), c.sshListCommand(), c.sshPubkeyCommand(),
		c.sshUnlockCommand())
	return cmd
}

func (c *cli) sshEnableCommand() *cobra.Command {
	var comment, certFile string
	var confirm bool
	var dests, knownHosts []string
	var life time.Duration
	cmd := &cobra.Command{
		Use:   "enable ALIAS [--comment C] [--for DURATION] [--cert KEY-cert.pub] [--confirm] [--dest [from>][user@]host]... [--known-hosts FILE]...",
		Short: "Offer a key to ssh clients",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			m := client.SSHMarking{Comment: comment, Confirm: confirm}
			if life < 0 {
				return usagef("--for %v: want a positive duration", life)
			}
			if certFile != "" {
				cert, err := readSSHCertificate(certFile)
				if err != nil {
					return err
				}
				m.Certificate = cert
			}
			if life > 0 {
				m.NotAfter = time.Now().Add(life)
			}
			var err error
			if m.Destinations, err = sshDestinations(dests, knownHosts); err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.SSHEnable(ctx, args[0], m)
				if err != nil {
					return err
				}
				return c.printKey(k)
			})
		}),
	}
	cmd.Flags().StringVar(&comment, "comment", "", "comment ssh-add -l shows (default: the alias)")
	cmd.Flags().DurationVar(&life, "for", 0, "end the offer after this long (like ssh-add -t)")
	cmd.Flags().StringVar(&certFile, "cert", "", "an OpenSSH certificate of the key (ssh-keygen -s), offered next to it")
	cmd.Flags().BoolVar(&confirm, "confirm", false, "confirm each signature with the daemon's ssh_askpass program (like ssh-add -c)")
	cmd.Flags().StringArrayVar(&dests, "dest", nil, "use the key only for ssh to this host, [user@]host, or on from a host, from>[user@]host (like ssh-add -h; repeatable)")
	cmd.Flags().StringArrayVar(&knownHosts, "known-hosts", nil, "known_hosts file with the hosts' keys (like ssh-add -H; default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)")
	return cmd
}

// readSSHCertificate reads a KEY-cert.pub file (one authorized_keys-style
// line) and returns the certificate in SSH wire format.
func readSSHCertificate(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, local(codeIO, fmt.Errorf("certificate file: %w", err))
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, usagef("--cert %s: %v", path, err)
	}
	if _, ok := pk.(*ssh.Certificate); !ok {
		return nil, usagef("--cert %s: a public key, not a certificate", path)
	}
	return pk.Marshal(), nil
}

func (c *cli) sshDisableCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "disable ALIAS",
		Short: "Stop offering a key to ssh (the key stays)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.SSHDisable(ctx, args[0])
				if err != nil {
					return err
				}
				return c.printKey(k)
			})
		}),
	}
}

type sshKeyJSON struct {
	Alias         string `json:"alias"`
	Algorithm     string `json:"algorithm"`
	Comment       string `json:"comment"`
	AuthorizedKey string `json:"authorized_key"`
	NotAfter      string `json:"not_after,omitempty"`      // RFC 3339, UTC
	HasPIN        bool   `json:"has_pin"`                  // needs tpmkey ssh unlock
	UnlockedUntil string `json:"unlocked_until,omitempty"` // RFC 3339, UTC
	Certificate   bool   `json:"certificate"`
	// Destinations are the ssh-add -h constraints, as ssh-add writes them.
	Destinations []string `json:"destinations,omitempty"`
	Confirm      bool     `json:"confirm,omitempty"` // ssh-add -c
}

func toSSHKeyJSON(k *client.Key) sshKeyJSON {
	j := sshKeyJSON{Alias: k.Alias, Algorithm: string(k.Algorithm), Comment: k.Alias, HasPIN: k.HasPIN}
	if m := k.SSH; m != nil {
		if m.Comment != "" {
			j.Comment = m.Comment
		}
		if !m.NotAfter.IsZero() {
			j.NotAfter = m.NotAfter.UTC().Format(time.RFC3339)
		}
		if !m.UnlockedUntil.IsZero() {
			j.UnlockedUntil = m.UnlockedUntil.UTC().Format(time.RFC3339)
		}
		j.Certificate = len(m.Certificate) > 0
		j.Confirm = m.Confirm
		for _, d := range m.Destinations {
			j.Destinations = append(j.Destinations, client.SSHDestinationString(d))
		}
	}
	j.AuthorizedKey, _ = client.SSHAuthorizedKey(k, j.Comment)
	return j
}

func (c *cli) sshListCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the keys offered to ssh",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				keys, err := cl.SSHKeys(ctx)
				if err != nil {
					return err
				}
				out := struct {
					Keys []sshKeyJSON `json:"keys"`
				}{Keys: []sshKeyJSON{}}
				for _, k := range keys {
					out.Keys = append(out.Keys, toSSHKeyJSON(k))
				}
				if c.json {
					return writeJSON(c.out, out)
				}
				tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ALIAS\tALGORITHM\tCOMMENT\tUNTIL\tPIN\tDESTINATIONS")
				for _, j := range out.Keys {
					until, pin := orDash(j.NotAfter), "-"
					if j.HasPIN {
						pin = "locked"
						if j.UnlockedUntil != "" {
							pin = "unlocked until " + j.UnlockedUntil
						}
					}
					dests := "-"
					if len(j.Destinations) > 0 {
						dests = strings.Join(j.Destinations, ",")
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.Alias, j.Algorithm, j.Comment, until, pin, dests)
				}
				return tw.Flush()
			})
		}),
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *cli) sshPubkeyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pubkey ALIAS",
		Short: "Print a key's authorized_keys line",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.Key(ctx, args[0])
				if err != nil {
					return err
				}
				if k.PublicKey == nil {
					return fmt.Errorf("%q is a %s, not a key pair: %w", k.Alias, k.Algorithm, client.ErrIncompatiblePurpose)
				}
				comment := k.Alias
				if k.SSH != nil && k.SSH.Comment != "" {
					comment = k.SSH.Comment
				}
				line, err := client.SSHAuthorizedKey(k, comment)
				if err != nil {
					return err
				}
				if c.json {
					return writeJSON(c.out, struct {
						AuthorizedKey string `json:"authorized_key"`
					}{line})
				}
				_, err = fmt.Fprintln(c.out, line)
				return err
			})
		}),
	}
}

func (c *cli) sshUnlockCommand() *cobra.Command {
	var pinFile string
	var life time.Duration
	var forget bool
	cmd := &cobra.Command{
		Use:   "unlock ALIAS --pin-file F [--for 15m] | unlock ALIAS --forget",
		Short: "Let ssh use a PIN key for a while (the daemon keeps the authorization in memory)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if forget {
				return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
					_, err := cl.SSHForget(ctx, args[0])
					return err
				})
			}
			if life <= 0 || life > 24*time.Hour {
				return usagef("--for %v: want more than 0 and at most 24h", life)
			}
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			if pin == nil {
				return usagef("unlock: --pin-file is required")
			}
			defer clear(pin)
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.SSHUnlock(ctx, args[0], pin, life)
				if err != nil {
					return err
				}
				j := toSSHKeyJSON(k)
				if c.json {
					return writeJSON(c.out, j)
				}
				_, err = fmt.Fprintf(c.out, "%s unlocked for ssh until %s\n", k.Alias, orDash(j.UnlockedUntil))
				return err
			})
		}),
	}
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the key's PIN")
	cmd.Flags().DurationVar(&life, "for", 15*time.Minute, "how long the daemon keeps the authorization (at most 24h)")
	cmd.Flags().BoolVar(&forget, "forget", false, "drop the authorization now")
	return cmd
}

// sshFlags are keygen's --ssh and --comment.
type sshFlags struct {
	enable  bool
	comment string
}

func (s *sshFlags) register(f interface {
	BoolVar(p *bool, name string, value bool, usage string)
	StringVar(p *string, name, value, usage string)
}) {
	f.BoolVar(&s.enable, "ssh", false, "offer the key to ssh clients (tpmkey ssh enable)")
	f.StringVar(&s.comment, "comment", "", "with --ssh: the comment ssh-add -l shows (default: the alias)")
}

// apply marks the new key k for ssh when --ssh was given.
func (s *sshFlags) apply(ctx context.Context, cl *client.Client, k *client.Key) (*client.Key, error) {
	if !s.enable {
		return k, nil
	}
	return cl.SSHEnable(ctx, k.Alias, client.SSHMarking{Comment: s.comment})
}

// check refuses --comment without --ssh, before any key is made.
func (s *sshFlags) check() error {
	if !s.enable && s.comment != "" {
		return usagef("--comment needs --ssh")
	}
	return nil
}

func sshUntil(notAfter string) string {
	if notAfter == "" {
		return ""
	}
	return ", until " + notAfter
}
