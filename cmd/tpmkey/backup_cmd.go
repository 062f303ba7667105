package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm/wrap"
)

// A backup directory (docs/BACKUP.md): manifest.json, and one wrapped-key
// file per exported key, <uid>/<alias>.wrapped.
const manifestName = "manifest.json"

// manifest is a backup's table of contents. Its field names are stable.
type manifest struct {
	Version       int           `json:"version"` // 1
	Created       string        `json:"created"` // RFC 3339, UTC
	TargetSRKName string        `json:"target_srk_name"`
	Keys          []backupKey   `json:"keys"`
	NotExportable []notExported `json:"not_exportable"`
}

type backupKey struct {
	UID       uint32   `json:"uid"`
	Alias     string   `json:"alias"`
	KeyID     string   `json:"key_id"` // hex; kept by the restore
	Algorithm string   `json:"algorithm"`
	Purposes  []string `json:"purposes"`
	HasPIN    bool     `json:"has_pin"`
	Created   string   `json:"created"`
	Origin    string   `json:"origin"`
	PublicKey string   `json:"public_key,omitempty"` // PEM; asymmetric keys
	File      string   `json:"file,omitempty"`       // relative to the directory; asymmetric keys
	// Symmetric keys: each version's file, and the record's settings.
	Versions              []backupVersion `json:"versions,omitempty"`
	MinDecryptionVersion  uint32          `json:"min_decryption_version,omitempty"`
	RotationPeriodSeconds uint64          `json:"rotation_period_seconds,omitempty"`
}

type backupVersion struct {
	Number   uint32 `json:"number"`
	Created  string `json:"created"` // RFC 3339, UTC
	Disabled bool   `json:"disabled,omitempty"`
	File     string `json:"file"`
}

type notExported struct {
	UID    uint32 `json:"uid"`
	Alias  string `json:"alias"`
	Reason string `json:"reason"`
}

func (c *cli) backupCommand() *cobra.Command {
	var to, out string
	cmd := &cobra.Command{
		Use:   "backup --to srk.pub --out DIR",
		Short: "Export every exportable key of yours (admins: of every uid) for a backup TPM",
		Long: `backup writes, into the new directory DIR, every key made exportable to the
backup TPM named by --to (keygen --backup-to), wrapped for that TPM only, with
its metadata in DIR/manifest.json. Keys that cannot go there (made without
--backup-to, for another target, or sealed) are listed on standard output
and in the manifest as not exportable; the exit status is then still 0.
An admin backs up every uid's keys. Restore with "tpmkey restore --in DIR"
on the backup machine.`,
		Args: exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			targetData, err := c.readInput(to)
			if err != nil {
				return err
			}
			target, err := wrap.ParseParent(targetData)
			if err != nil {
				return local(codeBadInput, fmt.Errorf("%s: %w", to, err))
			}
			name, err := wrap.Name(target)
			if err != nil {
				return local(codeBadInput, err)
			}
			if err := os.Mkdir(out, 0o700); err != nil {
				return local(codeIO, err)
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				m, err := c.runBackup(ctx, cl, targetData, name, out)
				if err != nil {
					return err
				}
				b, _ := json.MarshalIndent(m, "", "  ")
				if err := writeFileAtomic(filepath.Join(out, manifestName), append(b, '\n')); err != nil {
					return local(codeIO, err)
				}
				fmt.Fprintf(c.out, "backed up %d keys to %s; %d not exportable\n", len(m.Keys), out, len(m.NotExportable))
				return nil
			})
		}),
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "the backup TPM's SRK public key (TPM2B_PUBLIC or PEM)")
	f.StringVar(&out, "out", "", "directory to create")
	cmd.MarkFlagRequired("to")
	cmd.MarkFlagRequired("out")
	return cmd
}

// backupUIDs are the namespaces a backup covers: every uid with keys for
// an admin (Status keys_per_uid), the caller's own otherwise.
func backupUIDs(ctx context.Context, cl *client.Client) ([]*uint32, error) {
	st, err := cl.Status(ctx)
	if err != nil {
		return nil, err
	}
	if len(st.KeysPerUID) == 0 {
		return []*uint32{nil}, nil
	}
	var uids []uint32
	for u := range st.KeysPerUID {
		uids = append(uids, u)
	}
	slices.Sort(uids)
	out := make([]*uint32, len(uids))
	for i := range uids {
		out[i] = &uids[i]
	}
	return out, nil
}

func (c *cli) runBackup(ctx context.Context, cl *client.Client, target, name []byte, dir string) (*manifest, error) {
	m := &manifest{Version: 1, Created: time.Now().UTC().Format(time.RFC3339), TargetSRKName: hex.EncodeToString(name),
		Keys: []backupKey{}, NotExportable: []notExported{}}
	uids, err := backupUIDs(ctx, cl)
	if err != nil {
		return nil, err
	}
	for _, uid := range uids {
		var opts []client.CallOption
		if uid != nil {
			opts = append(opts, client.ForUID(*uid))
		}
		for k, err := range cl.Keys(ctx, opts...) {
			if err != nil {
				return nil, err
			}
			if reason := notExportableReason(k, name); reason != "" {
				m.NotExportable = append(m.NotExportable, notExported{UID: k.OwnerUID, Alias: k.Alias, Reason: reason})
				fmt.Fprintf(c.out, "NOT EXPORTABLE uid %d %s: %s\n", k.OwnerUID, k.Alias, reason)
				continue
			}
			e, err := cl.ExportKey(ctx, k.Alias, target, opts...)
			if err != nil {
				return nil, fmt.Errorf("export uid %d %s: %w", k.OwnerUID, k.Alias, err)
			}
			entry, err := writeExported(dir, e)
			if err != nil {
				return nil, err
			}
			m.Keys = append(m.Keys, *entry)
			fmt.Fprintf(c.out, "exported uid %d %s\n", k.OwnerUID, k.Alias)
		}
	}
	return m, nil
}

// writeExported writes e's wrapped files under dir/<uid>/ and returns its
// manifest entry.
func writeExported(dir string, e *client.Exported) (*backupKey, error) {
	k := e.Key
	base := filepath.Join(strconv.FormatUint(uint64(k.OwnerUID), 10), k.Alias)
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(base)), 0o700); err != nil {
		return nil, local(codeIO, err)
	}
	write := func(rel string, w protocol.WrappedKey) error {
		b := wrap.Blob{Public: w.Public, Duplicate: w.Duplicate, Seed: w.Seed, PINScheme: w.PINScheme}
		if err := writeFileAtomic(filepath.Join(dir, rel), b.MarshalPEM()); err != nil {
			return local(codeIO, err)
		}
		return nil
	}
	j := toKeyJSON(k)
	entry := &backupKey{UID: k.OwnerUID, Alias: k.Alias, KeyID: j.KeyID, Algorithm: j.Algorithm, Purposes: j.Purposes,
		HasPIN: k.HasPIN, Created: j.Created, Origin: k.Origin, PublicKey: j.PublicKey,
		MinDecryptionVersion: k.MinDecryptionVersion, RotationPeriodSeconds: uint64(k.RotationPeriod / time.Second)}
	if len(e.Versions) == 0 {
		entry.File = base + ".wrapped"
		return entry, write(entry.File, e.Wrapped)
	}
	for _, v := range e.Versions {
		rel := fmt.Sprintf("%s.v%d.wrapped", base, v.Number)
		if err := write(rel, v.Wrapped); err != nil {
			return nil, err
		}
		entry.Versions = append(entry.Versions, backupVersion{Number: v.Number, Disabled: v.Disabled, File: rel,
			Created: time.Unix(v.Created, 0).UTC().Format(time.RFC3339)})
	}
	return entry, nil
}

// notExportableReason says why k cannot go to the target named name, or
// "" when it can.
func notExportableReason(k *client.Key, name []byte) string {
	switch {
	case len(k.ExportableTo) == 0:
		return "made to stay in this TPM (no --backup-to)"
	case !bytes.Equal(k.ExportableTo, name):
		return "exportable to another backup TPM, SRK " + hex.EncodeToString(k.ExportableTo)
	}
	return ""
}

func (c *cli) restoreCommand() *cobra.Command {
	var in string
	cmd := &cobra.Command{
		Use:   "restore --in DIR",
		Short: "Import the keys of a backup made for this TPM, under their uids and aliases",
		Long: `restore imports the keys of a "tpmkey backup" directory. An admin restores
every uid's keys under the same uids and aliases; a normal user restores its
own and is told of the others. Each key's public key is checked against the
manifest. Keys already present (same alias) are reported, not replaced.`,
		Args: exactArgs(0),
		RunE: runE(func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(filepath.Join(in, manifestName))
			if err != nil {
				return local(codeIO, err)
			}
			var m manifest
			if err := json.Unmarshal(data, &m); err != nil || m.Version != 1 {
				return local(codeBadInput, fmt.Errorf("%s: not a version-1 backup manifest (%v)", manifestName, err))
			}
			return c.withClient(cmd, func(ctx context.Context, cl *client.Client) error {
				return c.runRestore(ctx, cl, in, &m)
			})
		}),
	}
	cmd.Flags().StringVar(&in, "in", "", "backup directory")
	cmd.MarkFlagRequired("in")
	return cmd
}

func (c *cli) runRestore(ctx context.Context, cl *client.Client, dir string, m *manifest) error {
	self := uint32(os.Getuid())
	restored, failed := 0, 0
	for _, k := range m.Keys {
		var opts []client.CallOption
		if k.UID != self {
			opts = append(opts, client.ForUID(k.UID))
		}
		err := c.restoreOne(ctx, cl, dir, k, opts)
		if err != nil {
			failed++
			fmt.Fprintf(c.out, "NOT RESTORED uid %d %s: %v\n", k.UID, k.Alias, err)
			continue
		}
		restored++
		fmt.Fprintf(c.out, "restored uid %d %s\n", k.UID, k.Alias)
	}
	for _, n := range m.NotExportable {
		fmt.Fprintf(c.out, "NOT IN BACKUP uid %d %s: %s\n", n.UID, n.Alias, n.Reason)
	}
	fmt.Fprintf(c.out, "restored %d keys; %d failed; %d were not exportable\n", restored, failed, len(m.NotExportable))
	if failed > 0 {
		return fmt.Errorf("%d keys not restored", failed)
	}
	return nil
}

func (c *cli) restoreOne(ctx context.Context, cl *client.Client, dir string, k backupKey, opts []client.CallOption) error {
	read := func(rel string) (protocol.WrappedKey, error) {
		data, err := os.ReadFile(filepath.Join(dir, filepath.Clean("/"+rel)))
		if err != nil {
			return protocol.WrappedKey{}, err
		}
		b, err := wrap.ParsePEM(data)
		if err != nil {
			return protocol.WrappedKey{}, err
		}
		return wrappedOf(b), nil
	}
	id, err := hex.DecodeString(k.KeyID)
	if err != nil {
		return fmt.Errorf("key_id: %w", err)
	}
	e := &client.Exported{Key: &client.Key{ID: id, Algorithm: client.Algorithm(k.Algorithm),
		MinDecryptionVersion: k.MinDecryptionVersion, RotationPeriod: time.Duration(k.RotationPeriodSeconds) * time.Second}}
	if len(k.Versions) == 0 {
		if e.Wrapped, err = read(k.File); err != nil {
			return err
		}
	}
	for _, v := range k.Versions {
		w, err := read(v.File)
		if err != nil {
			return err
		}
		created, err := time.Parse(time.RFC3339, v.Created)
		if err != nil {
			return fmt.Errorf("version %d created: %w", v.Number, err)
		}
		e.Versions = append(e.Versions, protocol.WrappedVersion{Number: v.Number, Created: created.Unix(), Disabled: v.Disabled, Wrapped: w})
	}
	got, err := cl.RestoreKey(ctx, k.Alias, e, opts...)
	if err != nil {
		return err
	}
	if pub := publicPEM(got); pub != k.PublicKey {
		cl.DeleteKey(ctx, k.Alias, opts...)
		return errors.New("the restored key's public key is not the one in the manifest; removed it again")
	}
	return nil
}
