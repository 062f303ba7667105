package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-tpm/tpm2"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/keyfile"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// Import, wrap and export (docs/CLI.md, docs/BACKUP.md).

func (c *cli) importCommand() *cobra.Command {
	var in, purposes, pinFile, pcrs, passFile, wrapped, pub, dup, seed, pinScheme, alg string
	var uid int64
	cmd := &cobra.Command{
		Use:   "import ALIAS --in key.pem | --wrapped blob | --public F --duplicate F --seed F",
		Short: "Import an existing private key, in plain or wrapped for this TPM",
		Long: `import puts an existing key into the TPM. --in reads a private key (PKCS#8,
SEC1 or PKCS#1, PEM or DER; EC P-256/P-384, RSA-2048/3072); an encrypted one
(PKCS#8 PBES2, or legacy "Proc-Type: 4,ENCRYPTED" PEM) is decrypted here with
the passphrase asked on the terminal or read from --passphrase-file. With
--alg hmac-sha256 or aes-256-gcm, --in holds the raw key bytes.

--wrapped reads a key wrapped for this machine's SRK by "tpmkey wrap" or
"tpmkey export"; --public/--duplicate/--seed read tpm2-tools files
(tpm2_create -u, tpm2_duplicate -r and -s). A wrapped key brings its own
purposes and PIN.`,
		Args: exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			uidOpts, err := uidOption(uid)
			if err != nil {
				return err
			}
			w, err := c.wrappedInput(wrapped, pub, dup, seed, pinScheme)
			if err != nil {
				return err
			}
			if w != nil {
				if in != "" || cmd.Flags().Changed("purpose") || pinFile != "" || pcrs != "" {
					return usagef("a wrapped key brings its own purposes and PIN: give none of --in, --purpose, --pin-file, --pcrs")
				}
				return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
					k, err := cl.ImportWrapped(ctx, args[0], *w, uidOpts...)
					if err != nil {
						return err
					}
					return c.printKey(k)
				})
			}
			if in == "" {
				return usagef("give --in, --wrapped, or --public, --duplicate and --seed")
			}
			opts, err := keygenOptions(purposes, cmd.Flags().Changed("purpose"), pinFile, pcrs)
			if err != nil {
				return err
			}
			opts = append(opts, uidOpts...)
			data, err := c.readInput(in)
			if err != nil {
				return err
			}
			defer clear(data)
			if alg == protocol.AlgHMACSHA256 || alg == protocol.AlgAES256GCM {
				return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
					imp := cl.ImportHMACKey
					if alg == protocol.AlgAES256GCM {
						imp = cl.ImportAESKey
					}
					k, err := imp(ctx, args[0], data, opts...)
					if err != nil {
						return err
					}
					return c.printKey(k)
				})
			} else if alg != "" {
				return usagef("--alg is only for raw hmac-sha256 or aes-256-gcm key bytes; a key file says its own algorithm")
			}
			der, err := c.plainKey(data, passFile, displayName(in))
			if err != nil {
				return err
			}
			defer clear(der)
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.ImportKey(ctx, args[0], der, opts...)
				if err != nil {
					return err
				}
				return c.printKey(k)
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&in, "in", "", "private key file (- for standard input)")
	f.StringVar(&alg, "alg", "", "hmac-sha256 or aes-256-gcm: --in holds raw key bytes (16..64 for HMAC, 32 for AES)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the passphrase of an encrypted key (else asked on the terminal)")
	f.StringVar(&purposes, "purpose", "sign", "comma-separated purposes: sign, decrypt, agree")
	f.StringVar(&pinFile, "pin-file", "", "file holding a PIN that every use of the key must give")
	f.StringVar(&pcrs, "pcrs", "", "bind the key to the current values of these SHA-256 PCRs, e.g. 0,7")
	f.StringVar(&wrapped, "wrapped", "", "wrapped key file (tpmkey wrap, tpmkey export)")
	f.StringVar(&pub, "public", "", "TPM2B_PUBLIC file of a wrapped key (tpm2_create -u)")
	f.StringVar(&dup, "duplicate", "", "TPM2B_PRIVATE duplicate file (tpm2_duplicate -r)")
	f.StringVar(&seed, "seed", "", "TPM2B_ENCRYPTED_SECRET seed file (tpm2_duplicate -s)")
	f.StringVar(&pinScheme, "pin-scheme", "", "how a wrapped key's auth value was made from its PIN: raw (tpm2-tools, the default) or sha256")
	f.Int64Var(&uid, "uid", -1, "import into this uid's namespace (admins only)")
	return cmd
}

// plainKey returns data as the agent takes it: as it is, or, when it is
// encrypted, decrypted here and re-encoded as PKCS #8 DER.
func (c *cli) plainKey(data []byte, passFile, name string) ([]byte, error) {
	k, err := keyfile.Parse(data, nil)
	if err == nil {
		return append([]byte(nil), data...), nil
	}
	if !errors.Is(err, keyfile.ErrEncrypted) {
		return nil, local(codeBadInput, fmt.Errorf("%s: %w", name, err))
	}
	k, err = keyfile.Parse(data, c.passphrase(passFile, name))
	if err != nil {
		return nil, local(codeBadInput, fmt.Errorf("%s: %w", name, err))
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, local(codeBadInput, fmt.Errorf("%s: %w", name, err))
	}
	return der, nil
}

// passphrase reads the passphrase from passFile, or asks for it on the
// terminal.
func (c *cli) passphrase(passFile, name string) keyfile.Passphrase {
	return func() ([]byte, error) {
		if passFile != "" {
			b, err := os.ReadFile(passFile)
			if err != nil {
				return nil, local(codeIO, fmt.Errorf("passphrase file: %w", err))
			}
			return []byte(strings.TrimRight(string(b), "\r\n")), nil
		}
		tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil {
			return nil, local(codeBadInput, fmt.Errorf("%s is encrypted: give --passphrase-file (no terminal to ask on: %v)", name, err))
		}
		defer tty.Close()
		fmt.Fprintf(tty, "Passphrase for %s: ", name)
		pw, err := term.ReadPassword(int(tty.Fd()))
		fmt.Fprintln(tty)
		if err != nil {
			return nil, local(codeIO, fmt.Errorf("read passphrase: %w", err))
		}
		return pw, nil
	}
}

// wrappedInput reads a wrapped key from --wrapped or from three
// tpm2-tools files; nil when none is given.
func (c *cli) wrappedInput(wrapped, pub, dup, seed, pinScheme string) (*protocol.WrappedKey, error) {
	parts := 0
	for _, p := range []string{pub, dup, seed} {
		if p != "" {
			parts++
		}
	}
	switch {
	case wrapped != "" && parts > 0:
		return nil, usagef("give --wrapped or --public/--duplicate/--seed, not both")
	case parts > 0 && parts < 3:
		return nil, usagef("--public, --duplicate and --seed go together")
	case wrapped == "" && parts == 0:
		if pinScheme != "" {
			return nil, usagef("--pin-scheme is for wrapped keys")
		}
		return nil, nil
	}
	w := &protocol.WrappedKey{PINScheme: pinScheme}
	if wrapped != "" {
		data, err := c.readInput(wrapped)
		if err != nil {
			return nil, err
		}
		b, err := wrap.ParsePEM(data)
		if err != nil {
			return nil, local(codeBadInput, fmt.Errorf("%s: %w", wrapped, err))
		}
		w.Public, w.Duplicate, w.Seed = b.Public, b.Duplicate, b.Seed
		if w.PINScheme == "" {
			w.PINScheme = b.PINScheme
		}
		return w, nil
	}
	var err error
	for _, x := range []struct {
		path string
		dst  *[]byte
	}{{pub, &w.Public}, {dup, &w.Duplicate}, {seed, &w.Seed}} {
		if *x.dst, err = c.readInput(x.path); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (c *cli) wrapCommand() *cobra.Command {
	var forFile, in, out, purposes, passFile string
	cmd := &cobra.Command{
		Use:   "wrap --for srk.pub --in key.pem --out blob",
		Short: "Wrap a private key for another machine's TPM (needs no TPM or agent)",
		Long: `wrap encrypts a private key for the TPM whose SRK public key --for names
(tpmkey status --srk-pub on that machine; TPM2B_PUBLIC or PEM), in the format
TPM2_Import reads: only that TPM can import it ("tpmkey import --wrapped" there).
It runs on any machine and talks to no agent. The wrapped key has no PIN.`,
		Args: exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			if forFile == "" || in == "" {
				return usagef("give --for and --in")
			}
			parentData, err := c.readInput(forFile)
			if err != nil {
				return err
			}
			parent, err := wrap.ParseParent(parentData)
			if err != nil {
				return local(codeBadInput, fmt.Errorf("%s: %w", forFile, err))
			}
			data, err := c.readInput(in)
			if err != nil {
				return err
			}
			defer clear(data)
			k, err := keyfile.Parse(data, c.passphrase(passFile, displayName(in)))
			if err != nil {
				return local(codeBadInput, fmt.Errorf("%s: %w", displayName(in), err))
			}
			a := wrap.Attributes{}
			for _, p := range strings.Split(purposes, ",") {
				switch strings.TrimSpace(p) {
				case "sign":
					a.Sign = true
				case "decrypt", "agree":
					a.Decrypt = true
				default:
					return usagef("--purpose: %q is not sign, decrypt or agree", p)
				}
			}
			pub, sens, err := wrap.Object(k, a)
			defer wrap.Wipe(&sens)
			if err != nil {
				return local(codeUnsupported, err)
			}
			b, err := wrap.Wrap(rand.Reader, parent, pub, sens)
			if err != nil {
				return local(codeBadInput, err)
			}
			return c.writeOutput(out, b.MarshalPEM())
		}),
	}
	f := cmd.Flags()
	f.StringVar(&forFile, "for", "", "the target TPM's SRK public key (TPM2B_PUBLIC or PEM)")
	f.StringVar(&in, "in", "", "private key file")
	f.StringVar(&out, "out", "", "wrapped key file to write (default standard output)")
	f.StringVar(&purposes, "purpose", "sign", "comma-separated purposes: sign, decrypt (RSA) or agree (EC)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the passphrase of an encrypted key (else asked on the terminal)")
	return cmd
}

func (c *cli) exportCommand() *cobra.Command {
	var to, out string
	var uid int64
	cmd := &cobra.Command{
		Use:   "export ALIAS --to srk.pub --out blob",
		Short: "Export an exportable key, wrapped for its backup TPM",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			opts, err := uidOption(uid)
			if err != nil {
				return err
			}
			target, err := c.readInput(to)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				e, err := cl.ExportKey(ctx, args[0], target, opts...)
				if err != nil {
					return err
				}
				if len(e.Versions) > 0 {
					return local(codeUnsupported, fmt.Errorf("%s is a symmetric key with versions: export it with tpmkey backup", args[0]))
				}
				w := e.Wrapped
				b := wrap.Blob{Public: w.Public, Duplicate: w.Duplicate, Seed: w.Seed, PINScheme: w.PINScheme}
				return c.writeOutput(out, b.MarshalPEM())
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the backup TPM's SRK public key (TPM2B_PUBLIC or PEM)")
	f.StringVar(&out, "out", "", "wrapped key file to write (default standard output)")
	f.Int64Var(&uid, "uid", -1, "the key's uid (admins only)")
	cmd.MarkFlagRequired("to")
	return cmd
}

// writeSRKPublic prints the SRK public key as PEM or TPM2B_PUBLIC.
func (c *cli) writeSRKPublic(st *client.Status, format, out string) error {
	if len(st.SRKPublic) == 0 {
		return local(codeProtocol, errors.New("the agent does not publish its SRK public key"))
	}
	switch format {
	case "tpm2b":
		return c.writeOutput(out, st.SRKPublic)
	case "pem":
		parent, err := wrap.ParseParent(st.SRKPublic)
		if err != nil {
			return local(codeProtocol, err)
		}
		pub, err := tpm2.Pub(*parent)
		if err != nil {
			return local(codeProtocol, err)
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return local(codeProtocol, err)
		}
		return c.writeOutput(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	return usagef("--format %q: want pem or tpm2b", format)
}

func wrappedOf(b *wrap.Blob) protocol.WrappedKey {
	return protocol.WrappedKey{Public: b.Public, Duplicate: b.Duplicate, Seed: b.Seed, PINScheme: b.PINScheme}
}
