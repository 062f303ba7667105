package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tpmkeyd/tpmkeyd/client"
)

func (c *cli) keygenCommand() *cobra.Command {
	var alg, purposes, pinFile, pcrs, backupTo, rotation string
	var exportable bool
	var sshOffer sshFlags
	cmd := &cobra.Command{
		Use:   "keygen ALIAS --alg ec-p256|ec-p384|rsa-2048|rsa-3072|hmac-sha256|aes-256-gcm [--rotation-period 90d] [--ssh [--comment C]]",
		Short: "Create a key in the TPM",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			if err := sshOffer.check(); err != nil {
				return err
			}
			// Unset, the agent's default applies: sign, or mac for hmac-sha256.
			opts, err := keygenOptions(purposes, cmd.Flags().Changed("purpose"), pinFile, pcrs)
			if err != nil {
				return err
			}
			if backupTo != "" {
				target, err := c.readInput(backupTo)
				if err != nil {
					return err
				}
				opts = append(opts, client.WithBackupTo(target))
			}
			if exportable {
				opts = append(opts, client.Exportable())
			}
			if rotation != "" {
				d, err := parsePeriod(rotation)
				if err != nil {
					return usagef("--rotation-period: %v", err)
				}
				opts = append(opts, client.WithRotationPeriod(d))
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				stop := c.progress(fmt.Sprintf("creating %s key %s", alg, args[0]), strings.HasPrefix(alg, "rsa"))
				k, err := cl.GenerateKey(ctx, args[0], client.Algorithm(alg), opts...)
				stop()
				if err != nil {
					return err
				}
				if k, err = sshOffer.apply(ctx, cl, k); err != nil {
					return err
				}
				return c.printKey(k)
			})
		}),
	}
	f := cmd.Flags()
	sshOffer.register(f)
	f.StringVar(&alg, "alg", "", "key algorithm: ec-p256, ec-p384, rsa-2048, rsa-3072, hmac-sha256 or aes-256-gcm")
	f.StringVar(&purposes, "purpose", "sign", "comma-separated purposes: sign, decrypt, agree; mac for hmac-sha256, encrypt for aes-256-gcm (their defaults)")
	f.StringVar(&rotation, "rotation-period", "", "hmac-sha256 and aes-256-gcm: add a version by itself this often, e.g. 90d, 12h")
	f.StringVar(&pinFile, "pin-file", "", "file holding a PIN that every use of the key must give")
	f.StringVar(&pcrs, "pcrs", "", "bind the key to the current values of these SHA-256 PCRs, e.g. 0,7")
	f.StringVar(&backupTo, "backup-to", "", "make the key exportable to the backup TPM whose SRK public key this file holds (docs/BACKUP.md)")
	f.BoolVar(&exportable, "exportable", false, "make the key exportable to the backup TPM the agent's admin configured (backup.target)")
	cmd.MarkFlagRequired("alg")
	return cmd
}

func keygenOptions(purposes string, purposeSet bool, pinFile, pcrs string) ([]client.CallOption, error) {
	var opts []client.CallOption
	if purposeSet {
		var ps []client.Purpose
		for _, p := range strings.Split(purposes, ",") {
			if p = strings.TrimSpace(p); p != "" {
				ps = append(ps, client.Purpose(p))
			}
		}
		if len(ps) == 0 {
			return nil, usagef("--purpose: give at least one of sign, decrypt, agree, mac")
		}
		opts = append(opts, client.WithPurposes(ps...))
	}
	pin, err := readPIN(pinFile)
	if err != nil {
		return nil, err
	}
	if pin != nil {
		opts = append(opts, client.WithPIN(pin))
	}
	pl, err := parsePCRs(pcrs)
	if err != nil {
		return nil, err
	}
	if pl != nil {
		opts = append(opts, client.WithPCRs(pl...))
	}
	return opts, nil
}

// printKey prints a key as JSON or as text.
func (c *cli) printKey(k *client.Key) error {
	if c.json {
		return writeJSON(c.out, toKeyJSON(k))
	}
	writeKeyText(c.out, k)
	return nil
}

func (c *cli) listCommand() *cobra.Command {
	var uid int64
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List your keys (root: --uid N lists another user's)",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			opts, err := uidOption(uid)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				var keys []*client.Key
				for k, err := range cl.Keys(ctx, opts...) {
					if err != nil {
						return err
					}
					keys = append(keys, k)
				}
				if c.json {
					out := struct {
						Keys []keyJSON `json:"keys"`
					}{Keys: []keyJSON{}}
					for _, k := range keys {
						out.Keys = append(out.Keys, toKeyJSON(k))
					}
					return writeJSON(c.out, out)
				}
				return writeKeyTable(c.out, keys, uid >= 0)
			})
		}),
	}
	cmd.Flags().Int64Var(&uid, "uid", -1, "admin: list the keys of this uid")
	return cmd
}

// uidOption turns --uid into client.ForUID; -1 means the caller's own.
func uidOption(uid int64) ([]client.CallOption, error) {
	if uid < 0 {
		return nil, nil
	}
	if uid > 1<<32-1 {
		return nil, usagef("--uid %d is out of range", uid)
	}
	return []client.CallOption{client.ForUID(uint32(uid))}, nil
}

func (c *cli) showCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show ALIAS",
		Short: "Show a key's description and public key",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.Key(ctx, args[0])
				if err != nil {
					return err
				}
				return c.printKey(k)
			})
		}),
	}
}

func (c *cli) pubkeyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "pubkey ALIAS",
		Short: "Print a key's public key as PEM (SubjectPublicKeyInfo)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.Key(ctx, args[0])
				if err != nil {
					return err
				}
				p := publicPEM(k)
				if p == "" {
					return local(codeBadInput, fmt.Errorf("%s is %s data and has no public key", k.Alias, k.Algorithm))
				}
				if c.json {
					return writeJSON(c.out, map[string]string{"alias": k.Alias, "public_key": p})
				}
				_, err = fmt.Fprint(c.out, p)
				return err
			})
		}),
	}
}

func (c *cli) rmCommand() *cobra.Command {
	var uid int64
	cmd := &cobra.Command{
		Use:   "rm ALIAS",
		Short: "Delete a key (root: --uid N deletes another user's)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			opts, err := uidOption(uid)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				if err := cl.DeleteKey(ctx, args[0], opts...); err != nil {
					return err
				}
				if c.json {
					return writeJSON(c.out, map[string]string{"deleted": args[0]})
				}
				return nil
			})
		}),
	}
	cmd.Flags().Int64Var(&uid, "uid", -1, "admin: delete from this uid's keys")
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d", cmd.Name(), n, len(args))
		}
		return nil
	}
}
