package main

import (
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// keyJSON is a key in --json output. Its field names are stable (docs/CLI.md).
type keyJSON struct {
	Alias     string   `json:"alias"`
	KeyID     string   `json:"key_id"` // hex
	OwnerUID  uint32   `json:"owner_uid"`
	Algorithm string   `json:"algorithm"`
	Purposes  []string `json:"purposes"`
	HasPIN    bool     `json:"has_pin"`
	PCRs      []uint   `json:"pcrs"`
	Created   string   `json:"created"`              // RFC 3339, UTC
	PublicKey string   `json:"public_key,omitempty"` // PEM SubjectPublicKeyInfo
	PKCS11URI string   `json:"pkcs11_uri,omitempty"` // RFC 7512, docs/PKCS11.md §6
	// Versions of a symmetric key (hmac-sha256), oldest first.
	Versions []versionJSON `json:"versions,omitempty"`
	// Origin is generated, imported or imported-wrapped.
	Origin string `json:"origin,omitempty"`
	// ExportableTo is the hex Name of the backup SRK the key may be
	// exported to; absent for a key that never leaves its TPM.
	ExportableTo string `json:"exportable_to,omitempty"`
	// MinDecryptionVersion and RotationPeriod (seconds) of a symmetric key.
	MinDecryptionVersion uint32 `json:"min_decryption_version,omitempty"`
	RotationPeriod       int64  `json:"rotation_period,omitempty"`
	// SSH is the key's ssh marking; absent when it is not offered to ssh.
	SSH *keySSHJSON `json:"ssh,omitempty"`
}

// keySSHJSON is a key's ssh marking in --json output.
type keySSHJSON struct {
	Comment     string `json:"comment"`
	NotAfter    string `json:"not_after,omitempty"` // RFC 3339, UTC
	Certificate bool   `json:"certificate"`
}

type versionJSON struct {
	Number  uint32 `json:"number"`
	Created string `json:"created"` // RFC 3339, UTC
	State   string `json:"state"`   // enabled or disabled
}

func toKeyJSON(k *client.Key) keyJSON {
	j := keyJSON{
		Alias: k.Alias, KeyID: hex.EncodeToString(k.ID), OwnerUID: k.OwnerUID,
		Algorithm: string(k.Algorithm), Purposes: []string{}, HasPIN: k.HasPIN, PCRs: []uint{},
		Created: k.Created.UTC().Format(time.RFC3339), PublicKey: publicPEM(k),
		Origin: k.Origin, ExportableTo: hex.EncodeToString(k.ExportableTo),
	}
	j.PKCS11URI = pkcs11URI(k)
	for _, p := range k.Purposes {
		j.Purposes = append(j.Purposes, string(p))
	}
	j.PCRs = append(j.PCRs, k.PCRs...)
	for _, v := range k.Versions {
		state := "enabled"
		if v.Disabled {
			state = "disabled"
		}
		j.Versions = append(j.Versions, versionJSON{Number: v.Number, Created: v.Created.UTC().Format(time.RFC3339), State: state})
	}
	j.MinDecryptionVersion = k.MinDecryptionVersion
	j.RotationPeriod = int64(k.RotationPeriod / time.Second)
	if m := k.SSH; m != nil {
		j.SSH = &keySSHJSON{Comment: m.Comment, Certificate: len(m.Certificate) > 0}
		if j.SSH.Comment == "" {
			j.SSH.Comment = k.Alias
		}
		if !m.NotAfter.IsZero() {
			j.SSH.NotAfter = m.NotAfter.UTC().Format(time.RFC3339)
		}
	}
	return j
}

// publicPEM is k's public key as PEM, or "" for sealed data.
func publicPEM(k *client.Key) string {
	if len(k.PublicKeyDER) == 0 {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.PublicKeyDER}))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeKeyText prints one key as "field: value" lines.
func writeKeyText(w io.Writer, k *client.Key) {
	j := toKeyJSON(k)
	fmt.Fprintf(w, "alias:     %s\n", j.Alias)
	fmt.Fprintf(w, "key id:    %s\n", j.KeyID)
	fmt.Fprintf(w, "owner uid: %d\n", j.OwnerUID)
	fmt.Fprintf(w, "algorithm: %s\n", j.Algorithm)
	fmt.Fprintf(w, "purposes:  %s\n", strings.Join(j.Purposes, ","))
	fmt.Fprintf(w, "pin:       %s\n", yesNo(j.HasPIN))
	fmt.Fprintf(w, "pcrs:      %s\n", pcrList(j.PCRs))
	fmt.Fprintf(w, "created:   %s\n", j.Created)
	if j.Origin != "" {
		fmt.Fprintf(w, "origin:    %s\n", j.Origin)
	}
	if j.ExportableTo != "" {
		fmt.Fprintf(w, "exportable to SRK: %s\n", j.ExportableTo)
	}
	if j.PKCS11URI != "" {
		fmt.Fprintf(w, "pkcs11:    %s\n", j.PKCS11URI)
	}
	for _, v := range j.Versions {
		fmt.Fprintf(w, "version:   %d, %s, %s\n", v.Number, v.State, v.Created)
	}
	if j.MinDecryptionVersion > 1 {
		fmt.Fprintf(w, "min decryption version: %d\n", j.MinDecryptionVersion)
	}
	if j.RotationPeriod > 0 {
		fmt.Fprintf(w, "rotation period: %s\n", formatPeriod(j.RotationPeriod))
	}
	if j.SSH != nil {
		fmt.Fprintf(w, "ssh:       offered, comment %q%s\n", j.SSH.Comment, sshUntil(j.SSH.NotAfter))
	}
	if j.PublicKey != "" {
		fmt.Fprint(w, j.PublicKey)
	}
}

// writeKeyTable prints keys as a table, one per line.
func writeKeyTable(w io.Writer, keys []*client.Key, withOwner bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if withOwner {
		fmt.Fprint(tw, "UID\t")
	}
	fmt.Fprintln(tw, "ALIAS\tALGORITHM\tPURPOSES\tPIN\tPCRS\tCREATED")
	for _, k := range keys {
		j := toKeyJSON(k)
		if withOwner {
			fmt.Fprintf(tw, "%d\t", j.OwnerUID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.Alias, j.Algorithm,
			strings.Join(j.Purposes, ","), yesNo(j.HasPIN), pcrList(j.PCRs), j.Created)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func pcrList(pcrs []uint) string {
	if len(pcrs) == 0 {
		return "-"
	}
	s := make([]string, len(pcrs))
	for i, p := range pcrs {
		s[i] = strconv.FormatUint(uint64(p), 10)
	}
	return strings.Join(s, ",")
}
