package main

import (
	"context"
	"encoding/hex"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// macInput reads the data to MAC (at most protocol.MaxMACData bytes) and
// the key's PIN, if a PIN file is given.
func (c *cli) macInput(path, pinFile string) (data, pin []byte, err error) {
	data, err = c.readInput(path)
	if err != nil {
		return nil, nil, err
	}
	if len(data) > protocol.MaxMACData {
		return nil, nil, local(codeBadInput, fmt.Errorf("%s is larger than %d bytes, the most a MAC covers", displayName(path), protocol.MaxMACData))
	}
	pin, err = readPIN(pinFile)
	if err != nil {
		return nil, nil, err
	}
	return data, pin, nil
}

func pinOptions(pin []byte) []client.CallOption {
	if pin == nil {
		return nil
	}
	return []client.CallOption{client.WithPIN(pin)}
}

func (c *cli) macCommand() *cobra.Command {
	var in, pinFile string
	cmd := &cobra.Command{
		Use:   "mac ALIAS [--in F]",
		Short: "Print the HMAC-SHA256 tag of data (hex), made in the TPM with an hmac-sha256 key",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			data, pin, err := c.macInput(in, pinFile)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				tag, version, err := cl.MAC(ctx, args[0], data, pinOptions(pin)...)
				if err != nil {
					return err
				}
				if c.json {
					return writeJSON(c.out, map[string]any{"tag": hex.EncodeToString(tag), "version": version})
				}
				fmt.Fprintln(c.out, hex.EncodeToString(tag))
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&in, "in", "-", "data to MAC (at most 64 KiB; - for stdin)")
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the key's PIN")
	return cmd
}

func (c *cli) verifyMACCommand() *cobra.Command {
	var in, pinFile, tagHex string
	var version uint32
	cmd := &cobra.Command{
		Use:   "verify-mac ALIAS --tag HEX [--in F] [--version N]",
		Short: "Check an HMAC-SHA256 tag in the TPM (exit 1 if it does not verify)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			tag, err := hex.DecodeString(tagHex)
			if err != nil || len(tag) != protocol.MACTagSize {
				return local(codeBadInput, fmt.Errorf("--tag must be %d bytes in hex", protocol.MACTagSize))
			}
			data, pin, err := c.macInput(in, pinFile)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				ok, err := cl.VerifyMAC(ctx, args[0], data, tag, version, pinOptions(pin)...)
				if err != nil {
					return err
				}
				return c.printVerdict(ok, "MAC")
			})
		}),
	}
	cmd.Flags().StringVar(&in, "in", "-", "data the tag covers (- for stdin)")
	cmd.Flags().StringVar(&tagHex, "tag", "", "the tag, 64 hex digits")
	cmd.Flags().Uint32Var(&version, "version", 0, "the key version that made the tag (0: any the key accepts)")
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the key's PIN")
	cmd.MarkFlagRequired("tag")
	return cmd
}

func (c *cli) rotateCommand() *cobra.Command {
	var pinFile string
	cmd := &cobra.Command{
		Use:   "rotate ALIAS [--pin-file F]",
		Short: "Add a version to an hmac-sha256 key (new MACs use it; older tags still verify)",
		Args:  exactArgs(1),
		RunE: runE(func(cmd *cobra.Command, args []string) error {
			pin, err := readPIN(pinFile)
			if err != nil {
				return err
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				k, err := cl.RotateKey(ctx, args[0], pinOptions(pin)...)
				if err != nil {
					return err
				}
				return c.printKey(k)
			})
		}),
	}
	cmd.Flags().StringVar(&pinFile, "pin-file", "", "file holding the key's PIN, which the new version keeps")
	return cmd
}
