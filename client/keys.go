package client

import (
	"context"
	"iter"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// GenerateKey creates a key in the TPM and stores it under alias. It accepts
// WithPurposes (default sign), WithPIN, WithPCRs, and WithBackupTo or
// Exportable.
func (c *Client) GenerateKey(ctx context.Context, alias string, alg Algorithm, opts ...CallOption) (*Key, error) {
	o, err := collect("GenerateKey", optPurposes|optPIN|optPCRs|optRotationPeriod|optBackupTo, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.GenerateKeyRequest{
		Alias: alias, Algorithm: string(alg), Purposes: o.purposes, PIN: o.pin, PCRs: o.pcrs,
		RotationPeriod: uint64(o.rotation / time.Second), BackupTo: o.backupTo, Exportable: o.exportable,
	}
	var resp protocol.GenerateKeyResponse
	if err := c.roundTrip(ctx, protocol.OpGenerateKey, &req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}

// Key returns the description and public key of alias. It accepts ForUID.
func (c *Client) Key(ctx context.Context, alias string, opts ...CallOption) (*Key, error) {
	o, err := collect("Key", optForUID, opts)
	if err != nil {
		return nil, err
	}
	req := protocol.GetKeyRequest{Alias: alias, UID: o.uid}
	var resp protocol.GetKeyResponse
	if err := c.roundTrip(ctx, protocol.OpGetKey, &req, &resp); err != nil {
		return nil, err
	}
	return keyFromWire(&resp.Key)
}

// KeysPage returns one page of keys, starting at cursor ("" for the first
// page), of at most limit keys (0: the server's default), and the cursor of
// the next page ("" after the last). It accepts ForUID.
func (c *Client) KeysPage(ctx context.Context, cursor string, limit uint, opts ...CallOption) ([]*Key, string, error) {
	o, err := collect("KeysPage", optForUID, opts)
	if err != nil {
		return nil, "", err
	}
	req := protocol.ListKeysRequest{Cursor: cursor, Limit: limit, UID: o.uid}
	var resp protocol.ListKeysResponse
	if err := c.roundTrip(ctx, protocol.OpListKeys, &req, &resp); err != nil {
		return nil, "", err
	}
	keys := make([]*Key, 0, len(resp.Keys))
	for i := range resp.Keys {
		k, err := keyFromWire(&resp.Keys[i])
		if err != nil {
			return nil, "", err
		}
		keys = append(keys, k)
	}
	return keys, resp.NextCursor, nil
}

// Keys iterates over all the caller's keys (or, with ForUID, another uid's),
// fetching them page by page. It stops at the first error, which it yields
// with a nil key.
func (c *Client) Keys(ctx context.Context, opts ...CallOption) iter.Seq2[*Key, error] {
	return func(yield func(*Key, error) bool) {
		if _, err := collect("Keys", optForUID, opts); err != nil {
			yield(nil, err)
			return
		}
		cursor := ""
		for {
			page, next, err := c.KeysPage(ctx, cursor, 0, opts...)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, k := range page {
				if !yield(k, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			cursor = next
		}
	}
}

// DeleteKey removes alias. It accepts ForUID.
func (c *Client) DeleteKey(ctx context.Context, alias string, opts ...CallOption) error {
	o, err := collect("DeleteKey", optForUID, opts)
	if err != nil {
		return err
	}
	req := protocol.DeleteKeyRequest{Alias: alias, UID: o.uid}
	return c.roundTrip(ctx, protocol.OpDeleteKey, &req, &protocol.DeleteKeyResponse{})
}
