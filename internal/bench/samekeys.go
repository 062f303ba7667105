package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/go-tpm/tpm2"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
	"github.com/tpmkeyd/tpmkeyd/protocol"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// On swtpm the time of an RSA-2048 sign depends on the key (3.0 to 3.6 ms
// for four keys on one instance), so the floor and the agent must sign with
// the same key on the same TPM, or the ratio measures which key each side
// drew. The two swtpm instances therefore start from one byte-identical
// state (same seeds, hence the same SRK), the floor creates its keys on
// swtpm #1, and their blobs become records of the agent's store, which
// swtpm #2 loads under its identical SRK.

// launchTwins starts swtpm #1 once on dirs[0] so that it creates its
// seeds, stops it (swtpm writes its state on SIGTERM), copies that state to
// dirs[1], and then launches both instances.
func launchTwins(ctx context.Context, dirs [2]string) ([2]*swtpmtest.Process, error) {
	var tpms [2]*swtpmtest.Process
	first, err := swtpmtest.Launch(ctx, swtpmtest.Config{StateDir: dirs[0]})
	if err != nil {
		return tpms, fmt.Errorf("bench: swtpm #1: %w", err)
	}
	first.Close()
	if err := copyState(dirs[0], dirs[1]); err != nil {
		return tpms, fmt.Errorf("bench: copy swtpm state: %w", err)
	}
	for i, dir := range dirs {
		p, err := swtpmtest.Launch(ctx, swtpmtest.Config{StateDir: dir})
		if err != nil {
			for _, q := range tpms {
				if q != nil {
					q.Close()
				}
			}
			return [2]*swtpmtest.Process{}, fmt.Errorf("bench: swtpm #%d: %w", i+1, err)
		}
		tpms[i] = p
	}
	return tpms, nil
}

// copyState copies the regular files of swtpm's state directory src into
// a new directory dst.
func copyState(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if err := copyFile(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sharedKey is one of the floor's keys as the agent stores it.
type sharedKey struct {
	alias, algorithm string
	pub              tpm2.TPM2BPublic
	pri              tpm2.TPM2BPrivate
}

// sharedKeys are the floor's keys the agent cases use too.
func (r *raw) sharedKeys() []sharedKey {
	return []sharedKey{
		{hotAlias, protocol.AlgECP256, r.eccPub, r.eccPri},
		{rsaAlias, protocol.AlgRSA2048, r.rsaPub, r.rsaPri},
		{macAlias, protocol.AlgHMACSHA256, r.macPub, r.macPri},
	}
}

// importRawKeys writes the floor's keys into the agent's store at stateDir
// as records of the bench's uid, after checking that swtpm #2 (tpmSpec) has
// the SRK the keys were made under. The daemon must be stopped: swtpm
// serves one client at a time, and the store assumes a single writer.
func importRawKeys(ctx context.Context, tpmSpec, stateDir string, rw *raw, log *slog.Logger) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	t, err := tpm.OpenSpec(ctx, tpmSpec, tpm.Options{StateDir: stateDir, Logger: log})
	if err != nil {
		return fmt.Errorf("bench: tpm.Open: %w", err)
	}
	defer t.Close()
	if got, want := t.SRKName(), rw.srk.Name.Buffer; !bytes.Equal(got, want) {
		return fmt.Errorf("%w: swtpm #1 %x, swtpm #2 %x", ErrSRKMismatch, want, got)
	}
	macKey, err := store.LoadIntegrityKey(ctx, t, stateDir)
	if err != nil {
		return fmt.Errorf("bench: store.LoadIntegrityKey: %w", err)
	}
	defer clear(macKey)
	st, err := store.Open(stateDir, macKey, log)
	if err != nil {
		return fmt.Errorf("bench: store.Open: %w", err)
	}
	defer st.Close()
	for _, k := range rw.sharedKeys() {
		rec, err := sharedRecord(k, rw.srk.Name.Buffer)
		if err != nil {
			return err
		}
		if err := st.Create(rec, 0); err != nil {
			return fmt.Errorf("bench: store.Create %s: %w", k.alias, err)
		}
	}
	return nil
}

// sharedRecord builds the record the daemon would have written had it
// created k itself (tpm.CreateKey's blob encoding).
func sharedRecord(k sharedKey, srkName []byte) (*store.Record, error) {
	blob := tpm.Blob{Public: tpm2.Marshal(k.pub), Private: tpm2.Marshal(k.pri), ParentName: bytes.Clone(srkName)}
	if k.algorithm == protocol.AlgHMACSHA256 {
		return symmetricRecord(k, blob)
	}
	pub, err := tpm.PublicKey(&blob)
	if err != nil {
		return nil, fmt.Errorf("bench: tpm.PublicKey %s: %w", k.alias, err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("bench: x509.MarshalPKIXPublicKey %s: %w", k.alias, err)
	}
	rec := &store.Record{Alias: k.alias, OwnerUID: uint32(os.Getuid()), Algorithm: k.algorithm,
		Purposes: []string{protocol.PurposeSign}, Created: time.Now(), PublicDER: der, Blob: blob}
	if _, err := rand.Read(rec.KeyID[:]); err != nil {
		return nil, fmt.Errorf("bench: rand.Read: %w", err)
	}
	return rec, nil
}

// symmetricRecord is the record of an hmac-sha256 key whose version 1 is
// blob.
func symmetricRecord(k sharedKey, blob tpm.Blob) (*store.Record, error) {
	rec := &store.Record{Alias: k.alias, OwnerUID: uint32(os.Getuid()), Algorithm: k.algorithm,
		Purposes: []string{protocol.PurposeMAC}, Created: time.Now(),
		Versions: []store.KeyVersion{{Number: 1, Created: time.Now(), Blob: blob}}}
	if _, err := rand.Read(rec.KeyID[:]); err != nil {
		return nil, fmt.Errorf("bench: rand.Read: %w", err)
	}
	return rec, nil
}
