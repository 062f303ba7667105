package main

import (
	"bufio"
	"context"
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for crypto.Hash.New
	_ "crypto/sha512" // registers SHA-384 and SHA-512
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// signFlags are the flags sign and verify share.
type signFlags struct {
	in, hash string
	pss      bool
}

func (s *signFlags) register(f *pflag.FlagSet) {
	f.StringVar(&s.in, "in", "", "input file (default standard input)")
	f.StringVar(&s.hash, "hash", "sha256", "hash: sha256, sha384 or sha512")
	f.BoolVar(&s.pss, "pss", false, "RSA: use RSASSA-PSS (salt as long as the hash) instead of PKCS #1 v1.5")
}

func parseHash(name string) (crypto.Hash, error) {
	switch name {
	case "sha256":
		return crypto.SHA256, nil
	case "sha384":
		return crypto.SHA384, nil
	case "sha512":
		return crypto.SHA512, nil
	}
	return 0, usagef("--hash %q: want sha256, sha384 or sha512", name)
}

// digest hashes the input as it streams in.
func (c *cli) digest(s *signFlags) (crypto.Hash, []byte, error) {
	h, err := parseHash(s.hash)
	if err != nil {
		return 0, nil, err
	}
	r, err := c.openInput(s.in)
	if err != nil {
		return 0, nil, err
	}
	defer r.Close()
	hw := h.New()
	if _, err := io.Copy(hw, r); err != nil {
		return 0, nil, local(codeIO, fmt.Errorf("read %s: %w", displayName(s.in), err))
	}
	return h, hw.Sum(nil), nil
}

func (s *signFlags) callOptions(pin []byte) []client.CallOption {
	var opts []client.CallOption
	if s.pss {
		opts = append(opts, client.WithPSS())
	}
	if pin != nil {
		opts = append(opts, client.WithPIN(pin))
	}
	return opts
}

func (c *cli) signCommand() *cobra.Command {
	var sf signFlags
	var out, pinFile string
	cmd := &cobra.Command{
		Use:   "sign ALIAS [--in F] [--out F] [--hash sha256|sha384|sha512] [--pss]",
		Short: "Sign the hash of the input (ECDSA: DER; RSA: PKCS #1 v1.5 or PSS)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			h, d, err := c.digest(&sf)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				sig, err := cl.Sign(ctx, args[0], h, d, sf.callOptions(pin)...)
				if err != nil {
					return err
				}
				return c.emit(out, sig, "signature")
			})
		}),
	}
	sf.register(cmd.Flags())
	cmd.Flags().StringVar(&out, "out", "", "signature file (default standard output)")
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the key's PIN")
	return cmd
}

// emit writes a binary result: raw to --out or stdout, or with --json as
// {field: base64} on stdout (and raw to --out when given).
func (c *cli) emit(out string, data []byte, field string) error {
	if !c.json {
		return c.writeOutput(out, data)
	}
	if out != "" && out != "-" {
		if err := c.writeOutput(out, data); err != nil {
			return err
		}
	}
	return writeJSON(c.out, map[string][]byte{field: data})
}

func (c *cli) verifyCommand() *cobra.Command {
	var sf signFlags
	var sigFile string
	cmd := &cobra.Command{
		Use:   "verify ALIAS --sig F [--in F] [--hash ...] [--pss]",
		Short: "Check a signature with a key's public key (exit 1 if it does not verify)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			sig, err := os.ReadFile(sigFile)
			if err != nil {
				return local(codeIO, err)
			}
			h, d, err := c.digest(&sf)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				ok, err := cl.Verify(ctx, args[0], h, d, sig, sf.callOptions(nil)...)
				if err != nil {
					return err
				}
				return c.printVerdict(ok, "signature")
			})
		}),
	}
	sf.register(cmd.Flags())
	cmd.Flags().StringVar(&sigFile, "sig", "", "signature file")
	cmd.MarkFlagRequired("sig")
	return cmd
}

// printVerdict prints a verification's outcome, and makes a failed one
// exit 1 with INVALID_SIGNATURE; what names what was checked.
func (c *cli) printVerdict(ok bool, what string) error {
	if c.json {
		if err := writeJSON(c.out, map[string]bool{"valid": ok}); err != nil {
			return err
		}
	} else if ok {
		fmt.Fprintln(c.out, "Verified OK")
	}
	if !ok {
		return local(codeInvalidSig, fmt.Errorf("the %s does not verify", what))
	}
	return nil
}

// cipherFlags are the flags decrypt and encrypt share.
type cipherFlags struct {
	in, out string
	pkcs1   bool
}

func (f *cipherFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.in, "in", "", "input file (default standard input)")
	fs.StringVar(&f.out, "out", "", "output file (default standard output)")
	fs.BoolVar(&f.pkcs1, "pkcs1", false, "PKCS #1 v1.5 padding instead of OAEP with SHA-256")
}

func (c *cli) decryptCommand() *cobra.Command {
	var cf cipherFlags
	var cx contextFlag
	var pinFile string
	cmd := &cobra.Command{
		Use:   "decrypt [ALIAS] [--in F] [--out F] [--context k=v ...] [--pkcs1]",
		Short: "Decrypt a stream made by encrypt with an aes-256-gcm key (the key is named in it), or with an RSA key (OAEP SHA-256 unless --pkcs1)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("decrypt takes at most 1 argument, got %d", len(args))
			}
			return nil
		},
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			encCtx, err := cx.parse()
			if err != nil {
				return err
			}
			in, err := c.openInput(cf.in)
			if err != nil {
				return err
			}
			defer in.Close()
			// Large enough to peek at a stream header; small, so that
			// most of each segment is read straight into its buffer.
			br := bufio.NewReaderSize(in, 8<<10)
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				if len(args) == 0 {
					if !isStream(br) {
						return local(codeBadInput, fmt.Errorf("%s is not a stream made by tpmkey encrypt; for RSA name the key: tpmkey decrypt ALIAS", displayName(cf.in)))
					}
					return c.streamDecrypt(ctx, cl, br, &cf, encCtx, pin)
				}
				k, err := cl.Key(ctx, args[0])
				if err != nil {
					return err
				}
				if k.Algorithm == client.AlgAES256GCM {
					if err := checkStreamKey(br, k, cf.in); err != nil {
						return err
					}
					return c.streamDecrypt(ctx, cl, br, &cf, encCtx, pin)
				}
				if encCtx != nil {
					return usagef("--context applies to aes-256-gcm keys, and %s is %s", args[0], k.Algorithm)
				}
				return c.rsaDecrypt(ctx, cl, args[0], br, &cf, pin)
			})
		}),
	}
	cf.register(cmd.Flags())
	cx.register(cmd.Flags())
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the key's PIN")
	return cmd
}

func (c *cli) rsaDecrypt(ctx context.Context, cl *client.Client, alias string, in io.Reader, cf *cipherFlags, pin []byte) error {
	ct, err := c.readAll(in, cf.in)
	if err != nil {
		return err
	}
	opts := []client.CallOption{client.WithPIN(pin)}
	if cf.pkcs1 {
		opts = append(opts, client.WithPKCS1v15())
	}
	pt, err := cl.Decrypt(ctx, alias, ct, opts...)
	if err != nil {
		return err
	}
	return c.emit(cf.out, pt, "plaintext")
}

func (c *cli) encryptCommand() *cobra.Command {
	var cf cipherFlags
	var cx contextFlag
	var pinFile string
	cmd := &cobra.Command{
		Use:   "encrypt ALIAS [--in F] [--out F] [--context k=v ...] [--pkcs1]",
		Short: "Encrypt data of any size with an aes-256-gcm key (a stream envelope), or to an RSA key's public key (OAEP SHA-256 unless --pkcs1)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			encCtx, err := cx.parse()
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.Key(ctx, args[0])
				if err != nil {
					return err
				}
				if k.Algorithm == client.AlgAES256GCM {
					return c.streamEncrypt(ctx, cl, args[0], &cf, encCtx, pin)
				}
				if encCtx != nil {
					return usagef("--context applies to aes-256-gcm keys, and %s is %s", args[0], k.Algorithm)
				}
				pt, err := c.readInput(cf.in)
				if err != nil {
					return err
				}
				var opts []client.CallOption
				if cf.pkcs1 {
					opts = append(opts, client.WithPKCS1v15())
				}
				ct, err := cl.Encrypt(ctx, args[0], pt, opts...)
				if err != nil {
					return err
				}
				return c.emit(cf.out, ct, "ciphertext")
			})
		}),
	}
	cf.register(cmd.Flags())
	cx.register(cmd.Flags())
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "aes-256-gcm: file holding the key's PIN")
	return cmd
}

func (c *cli) ecdhCommand() *cobra.Command {
	var peerFile, out, pinFile string
	cmd := &cobra.Command{
		Use:   "ecdh ALIAS --peer PEER.pem [--out F]",
		Short: "Compute the ECDH shared secret (the raw x coordinate) with a peer's public key",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			peer, err := readPublicPEM(peerFile)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				z, err := cl.ECDH(ctx, args[0], peer, client.WithPIN(pin))
				if err != nil {
					return err
				}
				return c.emit(out, z, "shared_secret")
			})
		}),
	}
	cmd.Flags().StringVar(&peerFile, "peer", "", "the peer's public key, PEM SubjectPublicKeyInfo")
	cmd.Flags().StringVar(&out, "out", "", "output file (default standard output)")
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the key's PIN")
	cmd.MarkFlagRequired("peer")
	return cmd
}

// readPublicPEM reads a PEM "PUBLIC KEY" (SubjectPublicKeyInfo).
func readPublicPEM(path string) (crypto.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, local(codeIO, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, local(codeBadInput, fmt.Errorf("%s: no PEM PUBLIC KEY block", path))
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, local(codeBadInput, fmt.Errorf("%s: %w", path, err))
	}
	return pub, nil
}
