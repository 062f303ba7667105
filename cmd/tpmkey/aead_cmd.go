package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// parseContext turns --context k=v flags into an encryption context.
func parseContext(flag string, pairs []string) (map[string]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, usagef("--%s %q: want KEY=VALUE", flag, p)
		}
		if _, dup := m[k]; dup {
			return nil, usagef("--%s: key %q given twice", flag, k)
		}
		m[k] = v
	}
	return m, nil
}

// parsePeriod reads a rotation period: a Go duration (12h, 90m) or a
// whole number of days (90d).
func parsePeriod(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 16)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("%q: want a number of days such as 90d", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%q: want a duration of at least 1s, such as 90d or 12h", s)
	}
	return d, nil
}

// formatPeriod prints seconds as days when whole, else as a Go duration.
func formatPeriod(sec int64) string {
	if sec%86400 == 0 {
		return strconv.FormatInt(sec/86400, 10) + "d"
	}
	return (time.Duration(sec) * time.Second).String()
}

func (c *cli) datakeyCommand() *cobra.Command {
	var n int
	var pairs []string
	var noPlaintext bool
	var pinFile, out string
	cmd := &cobra.Command{
		Use:   "datakey ALIAS [--bytes 32] [--context k=v ...] [--no-plaintext] [--out F]",
		Short: "Make a random data key, returned in the clear and encrypted under an aes-256-gcm key",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			encCtx, err := parseContext("context", pairs)
			if err != nil {
				return err
			}
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				var pt, ct []byte
				var err error
				if noPlaintext {
					ct, err = cl.GenerateDataKeyWithoutPlaintext(ctx, args[0], n, encCtx, pinOptions(pin)...)
				} else {
					pt, ct, err = cl.GenerateDataKey(ctx, args[0], n, encCtx, pinOptions(pin)...)
				}
				if err != nil {
					return err
				}
				defer clear(pt)
				if out != "" {
					if err := c.writeOutput(out, ct); err != nil {
						return err
					}
				}
				return c.printDataKey(pt, ct, out != "")
			})
		}),
	}
	f := cmd.Flags()
	f.IntVar(&n, "bytes", 32, "data key length, 16..64")
	f.StringArrayVar(&pairs, "context", nil, "encryption context entry KEY=VALUE (repeatable; not secret: it is audited)")
	f.BoolVar(&noPlaintext, "no-plaintext", false, "print only the encrypted data key")
	f.StringVar(&out, "out", "", "write the encrypted data key (raw bytes) to this new file, mode 0600, instead of printing it")
	f.StringVar(&pinFile, "pin-file", "", "file holding the key's PIN")
	return cmd
}

// printDataKey prints a data key: the plaintext in hex (base64 in JSON)
// and the ciphertext in base64 (not when it went to a file).
func (c *cli) printDataKey(pt, ct []byte, ctInFile bool) error {
	if c.json {
		j := map[string]any{}
		if pt != nil {
			j["plaintext"] = base64.StdEncoding.EncodeToString(pt)
		}
		if !ctInFile {
			j["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
		}
		return writeJSON(c.out, j)
	}
	if pt != nil {
		fmt.Fprintf(c.out, "plaintext:  %s\n", hex.EncodeToString(pt))
	}
	if !ctInFile {
		fmt.Fprintf(c.out, "ciphertext: %s\n", base64.StdEncoding.EncodeToString(ct))
	}
	return nil
}

func (c *cli) reencryptCommand() *cobra.Command {
	var in, out, to, pinFile, toPINFile string
	var from, toPairs []string
	cmd := &cobra.Command{
		Use:   "reencrypt --in G --to ALIAS --out H [--context k=v ...] [--to-context k=v ...]",
		Short: "Re-encrypt an AEAD ciphertext under another key or the newest version, inside the agent",
		Args:  exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			fromCtx, err := parseContext("context", from)
			if err != nil {
				return err
			}
			toCtx, err := parseContext("to-context", toPairs)
			if err != nil {
				return err
			}
			r, err := c.openInput(in)
			if err != nil {
				return err
			}
			defer r.Close()
			br := bufio.NewReaderSize(r, 8<<10)
			var opts []client.CallOption
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			opts = append(opts, pinOptions(pin)...)
			toPIN, err := readPIN(toPINFile)
			if err != nil {
				return err
			}
			if toPIN != nil {
				opts = append(opts, client.WithToPIN(toPIN))
			}
			if isStream(br) { // a stream envelope of tpmkey encrypt (stream_cmd.go)
				return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
					return c.streamReencrypt(ctx, cl, br, in, out, fromCtx, to, toCtx, pin, toPIN)
				})
			}
			ct, err := c.readAll(br, in)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				nct, err := cl.ReEncrypt(ctx, ct, fromCtx, to, toCtx, opts...)
				if err != nil {
					return err
				}
				return c.writeOutput(out, nct)
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "-", "the ciphertext (- for stdin)")
	f.StringVar(&out, "out", "-", "the new ciphertext: a new file, mode 0600 (- for stdout)")
	f.StringVar(&to, "to", "", "the aes-256-gcm key to encrypt under")
	f.StringArrayVar(&from, "context", nil, "the ciphertext's encryption context entry KEY=VALUE (repeatable)")
	f.StringArrayVar(&toPairs, "to-context", nil, "the new ciphertext's context entry KEY=VALUE (repeatable)")
	f.StringVar(&pinFile, "pin-file", "", "file holding the source key's PIN")
	f.StringVar(&toPINFile, "to-pin-file", "", "file holding the destination key's PIN")
	cmd.MarkFlagRequired("to")
	return cmd
}

// keyCommand groups the commands that change a symmetric key's versions.
func (c *cli) keyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage the versions of an hmac-sha256 or aes-256-gcm key",
		Args:  exactArgs(0),
		RunE: func(*cobra.Command, []string) error {
			return usagef("key: give disable-version, enable-version, min-version or rotation-period")
		},
	}
	version := func(use, short string, f func(cl *client.Client, ctx context.Context, alias string, n uint32) (*client.Key, error)) *cobra.Command {
		return &cobra.Command{
			Use: use + " ALIAS N", Short: short, Args: exactArgs(2),
			RunE: runE(func(cmd *cobra.Command, args []string) error {
				n, err := strconv.ParseUint(args[1], 10, 32)
				if err != nil || n == 0 {
					return usagef("%s: version %q: want a number from 1", use, args[1])
				}
				return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
					k, err := f(cl, ctx, args[0], uint32(n))
					if err != nil {
						return err
					}
					return c.printKey(k)
				})
			}),
		}
	}
	cmd.AddCommand(
		version("disable-version", "Disable a version: it no longer encrypts, decrypts, makes or verifies MACs",
			(*client.Client).DisableKeyVersion),
		version("enable-version", "Enable a disabled version again", (*client.Client).EnableKeyVersion),
		version("min-version", "Set the oldest version that still decrypts and verifies",
			(*client.Client).SetMinDecryptionVersion),
		&cobra.Command{
			Use: "rotation-period ALIAS PERIOD", Short: "Set how often the agent rotates the key by itself (90d, 12h; 0: never)",
			Args: exactArgs(2),
			RunE: runE(func(cmd *cobra.Command, args []string) error {
				var d time.Duration
				if args[1] != "0" {
					var err error
					if d, err = parsePeriod(args[1]); err != nil {
						return usagef("rotation-period: %v", err)
					}
				}
				return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
					k, err := cl.SetRotationPeriod(ctx, args[0], d)
					if err != nil {
						return err
					}
					return c.printKey(k)
				})
			}),
		},
	)
	return cmd
}
