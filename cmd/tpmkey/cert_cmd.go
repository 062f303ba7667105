package main

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// certCommand is `tpmkey cert put|get|rm`: an X.509 certificate stored next
// to a key, which the PKCS#11 token serves with it (docs/PKCS11.md).
func (c *cli) certCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Store, print or remove the X.509 certificate kept next to a key",
	}
	cmd.AddCommand(c.certPutCommand(), c.certGetCommand(), c.certRmCommand())
	return cmd
}

// certJSON is a certificate in --json output (docs/CLI.md).
type certJSON struct {
	Alias       string `json:"alias"`
	KeyID       string `json:"key_id"`
	Created     string `json:"created"`
	Certificate string `json:"certificate"` // PEM
	PKCS11URI   string `json:"pkcs11_uri"`
}

func (c *cli) printCert(crt *client.Certificate) error {
	p := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: crt.DER}))
	if c.json {
		return writeJSON(c.out, certJSON{Alias: crt.Alias, KeyID: hex.EncodeToString(crt.KeyID),
			Created: crt.Created.UTC().Format(time.RFC3339), Certificate: p,
			PKCS11URI: "pkcs11:token=tpmkeyd;object=" + pctEncode(crt.Alias) + ";type=cert"})
	}
	_, err := fmt.Fprint(c.out, p)
	return err
}

func (c *cli) certPutCommand() *cobra.Command {
	var in string
	cmd := &cobra.Command{
		Use:   "put ALIAS [--in cert.pem]",
		Short: "Store a certificate (PEM or DER) of the key ALIAS next to it",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			data, err := c.readInput(in)
			if err != nil {
				return err
			}
			der := data
			if b, _ := pem.Decode(data); b != nil {
				if b.Type != "CERTIFICATE" {
					return local(codeBadInput, fmt.Errorf("%s holds a PEM %q, want CERTIFICATE", displayName(in), b.Type))
				}
				der = b.Bytes
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				crt, err := cl.PutCertificate(ctx, args[0], der)
				if err != nil {
					return err
				}
				return c.printCert(crt)
			})
		}),
	}
	cmd.Flags().StringVar(&in, "in", "", "certificate file, PEM or DER (default standard input)")
	return cmd
}

func (c *cli) certGetCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "get ALIAS",
		Short: "Print the certificate stored next to the key ALIAS, as PEM",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				crt, err := cl.Certificate(ctx, args[0])
				if err != nil {
					return err
				}
				return c.printCert(crt)
			})
		}),
	}
}

func (c *cli) certRmCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rm ALIAS",
		Short: "Remove the certificate stored next to the key ALIAS (the key stays)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				return cl.DeleteCertificate(ctx, args[0])
			})
		}),
	}
}
