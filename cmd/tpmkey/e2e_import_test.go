package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
	"github.com/tpmkeyd/tpmkeyd/internal/swtpmtest"
)

func opensslRun(t *testing.T, args ...string) []byte {
	t.Helper()
	swtpmtest.RequireTool(t, "openssl")
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return out
}

// verifyWithOpenSSL signs msg with alias through the agent and checks the
// signature with `openssl dgst -verify` against pubPEM.
func verifyWithOpenSSL(t *testing.T, s *e2e.Stack, alias, pubPEM string) {
	t.Helper()
	msg := []byte("signed after import: " + alias)
	digest := sha256.Sum256(msg)
	sig, err := dial(t, s).Sign(context.Background(), alias, crypto.SHA256, digest[:])
	if err != nil {
		t.Fatalf("Sign(%s) = %v", alias, err)
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"msg": msg, "sig": sig} {
		os.WriteFile(filepath.Join(dir, name), b, 0o600)
	}
	out := opensslRun(t, "dgst", "-sha256", "-verify", pubPEM, "-signature", filepath.Join(dir, "sig"), filepath.Join(dir, "msg"))
	if !bytes.Contains(out, []byte("Verified OK")) {
		t.Fatalf("openssl dgst -verify (%s) = %s, want Verified OK", alias, out)
	}
}

// srkPub writes s's SRK public key (TPM2B_PUBLIC) to a file others can read.
func srkPub(t *testing.T, b *binaries, s *e2e.Stack, name string) string {
	t.Helper()
	path := filepath.Join(s.Dir, name)
	if r := runCLI(t, b, s, nil, nil, "status", "--srk-pub", "--format", "tpm2b", "--out", path); r.code != 0 {
		t.Fatalf("status --srk-pub --format tpm2b = %d %q", r.code, r.stderr)
	}
	os.Chmod(path, 0o644)
	return path
}

// TestImportEncryptedKeys: `tpmkey import` decrypts what openssl
// encrypted (PKCS#8 PBES2 with HMAC-SHA256 and HMAC-SHA1 PRFs, legacy
// Proc-Type PEM), and a wrong passphrase is a typed error with no record.
func TestImportEncryptedKeys(t *testing.T) {
	s, _, b := startStack(t)
	dir := t.TempDir()
	pass := filepath.Join(dir, "pass")
	os.WriteFile(pass, []byte("correct horse\n"), 0o600)
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("wrong horse\n"), 0o600)
	ec := filepath.Join(dir, "ec.pem")
	opensslRun(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", ec)
	rsaKey := filepath.Join(dir, "rsa.pem")
	opensslRun(t, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", rsaKey)
	enc := func(name string, args ...string) string {
		p := filepath.Join(dir, name)
		opensslRun(t, append(args, "-out", p, "-passout", "pass:correct horse")...)
		return p
	}
	files := map[string]string{
		"genpkey-aes256":      genEnc(t, dir),
		"pkcs8-v2-aes256":     enc("p8.pem", "pkcs8", "-topk8", "-v2", "aes256", "-in", ec),
		"pkcs8-v2-sha1-prf":   enc("p8sha1.pem", "pkcs8", "-topk8", "-v2", "aes128", "-v2prf", "hmacWithSHA1", "-in", ec),
		"legacy-proc-type":    enc("legacy.pem", "rsa", "-aes256", "-traditional", "-in", rsaKey),
		"pkcs8-v2-der-aes192": enc("p8.der", "pkcs8", "-topk8", "-v2", "aes192", "-outform", "DER", "-in", ec),
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			if r := runCLI(t, b, s, nil, nil, "import", name, "--in", file, "--passphrase-file", pass, "--json"); r.code != 0 ||
				!strings.Contains(r.stdout, `"origin": "imported"`) {
				t.Fatalf("import %s = %d %q %q, want origin imported", name, r.code, r.stdout, r.stderr)
			}
			pub := filepath.Join(dir, name+".pub")
			os.WriteFile(pub, opensslRun(t, "pkey", "-in", file, "-passin", "pass:correct horse", "-pubout"), 0o600)
			verifyWithOpenSSL(t, s, name, pub)
		})
	}
	t.Run("wrong-passphrase", func(t *testing.T) {
		for _, file := range []string{files["pkcs8-v2-aes256"], files["legacy-proc-type"]} {
			r := runCLI(t, b, s, nil, nil, "import", "wp", "--in", file, "--passphrase-file", wrong)
			if r.code != 1 || !strings.Contains(r.stderr, "wrong passphrase") {
				t.Fatalf("import with a wrong passphrase = %d %q, want exit 1 and 'wrong passphrase'", r.code, r.stderr)
			}
		}
		if _, err := dial(t, s).Key(context.Background(), "wp"); !errors.Is(err, client.ErrKeyNotFound) {
			t.Fatalf("Key(wp) after a wrong passphrase = %v, want ErrKeyNotFound", err)
		}
	})
}

// TestWrappedImport: keys wrapped elsewhere for B's SRK, by `tpmkey wrap`
// (no TPM) and by tpm2_duplicate on another swtpm, import into B's daemon
// and sign there with the original public keys; a blob wrapped for A's
// SRK is refused by B with IMPORT_FAILED and leaves no record.
func TestWrappedImport(t *testing.T) {
	sa, _, b := startStack(t)
	sb, _, _ := startStack(t)
	aPub, bPub := srkPub(t, b, sa, "a.pub"), srkPub(t, b, sb, "b.pub")
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	opensslRun(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
	pub := filepath.Join(dir, "key.pub.pem")
	os.WriteFile(pub, opensslRun(t, "pkey", "-in", key, "-pubout"), 0o600)

	t.Run("tpmkey-wrap", func(t *testing.T) {
		blob := filepath.Join(dir, "for-b.wrapped")
		// wrap talks to no agent: point it at a socket that does not exist.
		cmd := exec.Command(b.tpmkey, "--socket", "/nonexistent", "wrap", "--for", bPub, "--in", key, "--out", blob)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tpmkey wrap = %v %s", err, out)
		}
		if r := runCLI(t, b, sb, nil, nil, "import", "wrapped", "--wrapped", blob, "--json"); r.code != 0 ||
			!strings.Contains(r.stdout, `"origin": "imported-wrapped"`) {
			t.Fatalf("import --wrapped = %d %q %q", r.code, r.stdout, r.stderr)
		}
		verifyWithOpenSSL(t, sb, "wrapped", pub)
	})
	t.Run("tpmkey-wrap-for-pem", func(t *testing.T) {
		pemPub := filepath.Join(sb.Dir, "b.pem")
		if r := runCLI(t, b, sb, nil, nil, "status", "--srk-pub", "--out", pemPub); r.code != 0 {
			t.Fatalf("status --srk-pub = %d %q", r.code, r.stderr)
		}
		if data, _ := os.ReadFile(pemPub); !bytes.HasPrefix(data, []byte("-----BEGIN PUBLIC KEY-----")) {
			t.Fatalf("status --srk-pub wrote %q, want PEM", data)
		}
		blob := filepath.Join(dir, "for-b-pem.wrapped")
		if out, err := exec.Command(b.tpmkey, "wrap", "--for", pemPub, "--in", key, "--out", blob).CombinedOutput(); err != nil {
			t.Fatalf("tpmkey wrap --for PEM = %v %s", err, out)
		}
		if r := runCLI(t, b, sb, nil, nil, "import", "wrapped-pem", "--wrapped", blob); r.code != 0 {
			t.Fatalf("import --wrapped (wrapped for the PEM SRK) = %d %q", r.code, r.stderr)
		}
		verifyWithOpenSSL(t, sb, "wrapped-pem", pub)
	})
	t.Run("wrong-srk-refused", func(t *testing.T) {
		blob := filepath.Join(dir, "for-a.wrapped")
		if out, err := exec.Command(b.tpmkey, "wrap", "--for", aPub, "--in", key, "--out", blob).CombinedOutput(); err != nil {
			t.Fatalf("tpmkey wrap = %v %s", err, out)
		}
		if r := runCLI(t, b, sb, nil, nil, "import", "stray", "--wrapped", blob); r.code != 1 || !strings.Contains(r.stderr, "IMPORT_FAILED") {
			t.Fatalf("import of a blob for A into B = %d %q, want exit 1 IMPORT_FAILED", r.code, r.stderr)
		}
		if _, err := dial(t, sb).Key(context.Background(), "stray"); !errors.Is(err, client.ErrKeyNotFound) {
			t.Fatalf("Key(stray) = %v, want ErrKeyNotFound", err)
		}
	})
	// tpm2_duplicate's software duplication: an external PEM key wrapped
	// for B's SRK public (-U) without a TPM object of its own.
	t.Run("tpm2-duplicate-external-key", func(t *testing.T) {
		swtpmtest.RequireTool(t, "tpm2_duplicate")
		c := swtpmtest.Start(t) // tpm2-tools opens a TCTI even for this
		w := t.TempDir()
		p := func(n string) string { return filepath.Join(w, n) }
		// Its objects are not noDA, so they get a PIN (-p), used as is
		// (pin scheme raw, the default).
		c.Tool("tpm2_duplicate", "-U", bPub, "-G", "ecc", "-k", key, "-p", "ext-pin",
			"-u", p("ext.pub"), "-r", p("ext.dup"), "-s", p("ext.seed"))
		r := runCLI(t, b, sb, nil, nil, "import", "from-tpm2-duplicate-k", "--public", p("ext.pub"),
			"--duplicate", p("ext.dup"), "--seed", p("ext.seed"), "--json")
		if r.code != 0 || !strings.Contains(r.stdout, `"has_pin": true`) {
			t.Fatalf("import of a tpm2_duplicate -k blob = %d %q %q, want has_pin", r.code, r.stdout, r.stderr)
		}
		digest := sha256.Sum256([]byte("external"))
		sig, err := dial(t, sb).Sign(context.Background(), "from-tpm2-duplicate-k", crypto.SHA256, digest[:], client.WithPIN([]byte("ext-pin")))
		if err != nil {
			t.Fatalf("Sign(from-tpm2-duplicate-k, its -p) = %v", err)
		}
		k, _ := dial(t, sb).Key(context.Background(), "from-tpm2-duplicate-k")
		if !ecdsa.VerifyASN1(k.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatalf("signature does not verify")
		}
		pemOrig, _ := os.ReadFile(pub)
		if block, _ := pem.Decode(pemOrig); block == nil || !bytes.Equal(block.Bytes, k.PublicKeyDER) {
			t.Fatalf("imported public key differs from the PEM key's")
		}
	})
	t.Run("tpm2-duplicate", func(t *testing.T) {
		swtpmtest.RequireTool(t, "tpm2_duplicate")
		c := swtpmtest.Start(t) // a third TPM, driven by tpm2-tools only
		w := t.TempDir()
		p := func(n string) string { return filepath.Join(w, n) }
		// Without a resource manager, tpm2-tools leave objects loaded:
		// flush the transient ones after each step (their contexts are saved).
		flush := func() { c.Tool("tpm2_flushcontext", "-t") }
		c.Tool("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc", "-c", p("prim.ctx"))
		flush()
		c.Tool("tpm2_startauthsession", "-S", p("trial.ctx"))
		c.Tool("tpm2_policycommandcode", "-S", p("trial.ctx"), "-L", p("dup.policy"), "TPM2_CC_Duplicate")
		c.Tool("tpm2_flushcontext", p("trial.ctx"))
		c.Tool("tpm2_create", "-C", p("prim.ctx"), "-g", "sha256", "-G", "ecc256", "-u", p("key.pub"), "-r", p("key.priv"),
			"-L", p("dup.policy"), "-a", "sensitivedataorigin|userwithauth|sign|noda")
		flush()
		c.Tool("tpm2_load", "-C", p("prim.ctx"), "-u", p("key.pub"), "-r", p("key.priv"), "-c", p("key.ctx"))
		flush()
		c.Tool("tpm2_readpublic", "-c", p("key.ctx"), "-f", "pem", "-o", p("key.pem"))
		flush()
		c.Tool("tpm2_loadexternal", "-C", "n", "-u", bPub, "-c", p("b.ctx"))
		flush()
		c.Tool("tpm2_startauthsession", "--policy-session", "-S", p("s.ctx"))
		c.Tool("tpm2_policycommandcode", "-S", p("s.ctx"), "TPM2_CC_Duplicate")
		c.Tool("tpm2_duplicate", "-C", p("b.ctx"), "-c", p("key.ctx"), "-G", "null", "-p", "session:"+p("s.ctx"),
			"-r", p("dup.dup"), "-s", p("dup.seed"))
		c.Tool("tpm2_flushcontext", p("s.ctx"))
		flush()
		if r := runCLI(t, b, sb, nil, nil, "import", "from-tpm2-tools", "--public", p("key.pub"),
			"--duplicate", p("dup.dup"), "--seed", p("dup.seed"), "--json"); r.code != 0 {
			t.Fatalf("import of a tpm2_duplicate blob = %d %q %q\n%s", r.code, r.stdout, r.stderr, sb.Daemon.Log())
		}
		verifyWithOpenSSL(t, sb, "from-tpm2-tools", p("key.pem"))
	})
}

// TestBackupRestore: on A, exportable keys (root's and nobody's) and a
// non-exportable one; `tpmkey backup` to B reports the latter; A's state
// and TPM are destroyed; `tpmkey restore` on B brings the exportable keys
// back under the same uids and aliases, and they sign there with the
// public keys they had on A.
func TestBackupRestore(t *testing.T) {
	swtpmtest.RequireRoot(t, "back up another uid's keys as an admin")
	sa, swa, b := startStack(t)
	sb, _, _ := startStack(t)
	bPub := srkPub(t, b, sb, "b.pub")
	bPubA := filepath.Join(sa.Dir, "b.pub")
	data, _ := os.ReadFile(bPub)
	os.WriteFile(bPubA, data, 0o644)
	keygen := func(cred *syscall.Credential, alias string, args ...string) {
		t.Helper()
		if r := runCLI(t, b, sa, cred, nil, append([]string{"keygen", alias}, args...)...); r.code != 0 {
			t.Fatalf("keygen %s %v = %d %q", alias, args, r.code, r.stderr)
		}
	}
	nobodyCred := &syscall.Credential{Uid: nobody, Gid: nobody}
	keygen(nil, "exp-ec", "--alg", "ec-p256", "--backup-to", bPubA)
	keygen(nil, "exp-rsa", "--alg", "rsa-2048", "--backup-to", bPubA)
	keygen(nil, "stays", "--alg", "ec-p256")
	keygen(nobodyCred, "nobody-exp", "--alg", "ec-p384", "--backup-to", bPubA)
	keygen(nil, "exp-aes", "--alg", "aes-256-gcm", "--backup-to", bPubA)
	keygen(nil, "exp-mac", "--alg", "hmac-sha256", "--backup-to", bPubA)
	ca := dial(t, sa)
	ctx := context.Background()
	// Symmetric keys: a ciphertext and a tag from version 1, a rotation,
	// and a ciphertext from version 2.
	actx := map[string]string{"purpose": "backup-test"}
	ct1, err := ca.AEADEncrypt(ctx, "exp-aes", []byte("from version 1"), actx)
	if err != nil {
		t.Fatalf("AEADEncrypt(v1) = %v", err)
	}
	tag1, _, err := ca.MAC(ctx, "exp-mac", []byte("mac me"))
	if err != nil {
		t.Fatalf("MAC = %v", err)
	}
	for _, alias := range []string{"exp-aes", "exp-mac"} {
		if _, err := ca.RotateKey(ctx, alias); err != nil {
			t.Fatalf("RotateKey(%s) = %v", alias, err)
		}
	}
	ct2, err := ca.AEADEncrypt(ctx, "exp-aes", []byte("from version 2"), actx)
	if err != nil {
		t.Fatalf("AEADEncrypt(v2) = %v", err)
	}
	tag2, _, err := ca.MAC(ctx, "exp-mac", []byte("mac me"))
	if err != nil {
		t.Fatalf("MAC(v2) = %v", err)
	}
	pubs := map[string][]byte{}
	for _, k := range []struct {
		alias string
		uid   *uint32
	}{{"exp-ec", nil}, {"exp-rsa", nil}, {"nobody-exp", ptr(uint32(nobody))}} {
		var opts []client.CallOption
		if k.uid != nil {
			opts = append(opts, client.ForUID(*k.uid))
		}
		key, err := ca.Key(ctx, k.alias, opts...)
		if err != nil {
			t.Fatalf("Key(%s) = %v", k.alias, err)
		}
		pubs[k.alias] = key.PublicKeyDER
	}
	out := filepath.Join(t.TempDir(), "backup")
	r := runCLI(t, b, sa, nil, nil, "backup", "--to", bPubA, "--out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "NOT EXPORTABLE uid 0 stays") || !strings.Contains(r.stdout, "backed up 5 keys") {
		t.Fatalf("backup = %d %q %q, want 5 keys and stays reported not exportable", r.code, r.stdout, r.stderr)
	}
	if r := runCLI(t, b, sa, nil, nil, "export", "stays", "--to", bPubA); r.code != 1 || !strings.Contains(r.stderr, "NOT_EXPORTABLE") {
		t.Fatalf("export stays = %d %q, want exit 1 NOT_EXPORTABLE", r.code, r.stderr)
	}
	// Only the owner and admins export: nobody sees no root key, and may
	// not name root's namespace.
	if r := runCLI(t, b, sa, nobodyCred, nil, "export", "exp-ec", "--to", bPubA); r.code != 1 || !strings.Contains(r.stderr, "KEY_NOT_FOUND") {
		t.Fatalf("export of root's key as nobody = %d %q, want exit 1 KEY_NOT_FOUND", r.code, r.stderr)
	}
	if r := runCLI(t, b, sa, nobodyCred, nil, "export", "exp-ec", "--to", bPubA, "--uid", "0"); r.code != 1 || !strings.Contains(r.stderr, "PERMISSION_DENIED") {
		t.Fatalf("export --uid 0 as nobody = %d %q, want exit 1 PERMISSION_DENIED", r.code, r.stderr)
	}
	if r := runCLI(t, b, sa, nobodyCred, nil, "export", "nobody-exp", "--to", bPubA); r.code != 0 || !strings.Contains(r.stdout, "TPM2B PRIVATE") {
		t.Fatalf("export of its own key as nobody = %d %q", r.code, r.stderr)
	}
	// A dies: its daemon, its state and its TPM's contents.
	if err := sa.StopDaemon(); err != nil {
		t.Fatal(err)
	}
	sa.Daemon = nil
	os.RemoveAll(sa.StateDir)
	swa.MustWipe()

	r = runCLI(t, b, sb, nil, nil, "restore", "--in", out)
	if r.code != 0 || !strings.Contains(r.stdout, "restored 5 keys") || !strings.Contains(r.stdout, "NOT IN BACKUP uid 0 stays") {
		t.Fatalf("restore = %d %q %q, want 5 keys restored and stays reported", r.code, r.stdout, r.stderr)
	}
	cb := dial(t, sb)
	for i, ct := range [][]byte{ct1, ct2} {
		pt, err := cb.AEADDecrypt(ctx, ct, actx)
		if want := fmt.Sprintf("from version %d", i+1); err != nil || string(pt) != want {
			t.Fatalf("AEADDecrypt on B of A's version-%d ciphertext = %q, %v; want %q", i+1, pt, err, want)
		}
	}
	for i, tag := range [][]byte{tag1, tag2} {
		if ok, err := cb.VerifyMAC(ctx, "exp-mac", []byte("mac me"), tag, uint32(i+1)); !ok || err != nil {
			t.Fatalf("VerifyMAC on B of A's version-%d tag = %v, %v; want true", i+1, ok, err)
		}
	}
	if k, err := cb.Key(ctx, "exp-aes"); err != nil || len(k.Versions) != 2 || k.Origin != "imported-wrapped" {
		t.Fatalf("Key(exp-aes) on B = %+v, %v; want 2 versions, imported-wrapped", k, err)
	}
	for alias, want := range pubs {
		var opts []client.CallOption
		if alias == "nobody-exp" {
			opts = append(opts, client.ForUID(nobody))
		}
		k, err := cb.Key(ctx, alias, opts...)
		if err != nil || !bytes.Equal(k.PublicKeyDER, want) || k.Origin != "imported-wrapped" {
			t.Fatalf("Key(%s) on B = %+v, %v; want A's public key, origin imported-wrapped", alias, k, err)
		}
		if alias == "nobody-exp" {
			continue // nobody signs below, as itself
		}
		pemFile := filepath.Join(t.TempDir(), "pub.pem")
		os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: want}), 0o600)
		verifyWithOpenSSL(t, sb, alias, pemFile)
	}
	msg := filepath.Join(sb.Dir, "msg")
	os.WriteFile(msg, []byte("nobody signs on B"), 0o644)
	if r := runCLI(t, b, sb, nobodyCred, nil, "sign", "nobody-exp", "--in", msg); r.code != 0 {
		t.Fatalf("sign as nobody on B = %d %q", r.code, r.stderr)
	}
}

func ptr[T any](v T) *T { return &v }

// genEnc is `openssl genpkey -aes256` of a P-384 key (PBES2).
func genEnc(t *testing.T, dir string) string {
	p := filepath.Join(dir, "g.pem")
	opensslRun(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-aes256", "-pass", "pass:correct horse", "-out", p)
	return p
}
