//go:build linux

package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestImportExportAudited: ImportKey and ExportKey each leave an audit
// record naming the key; a refused import is audited with its status and
// leaves no record; the key's bytes appear in no log.
func TestImportExportAudited(t *testing.T) {
	td := startDaemon(t, "")
	c := dialHello(t, td.socket)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	raw, _ := k.Bytes()
	var imp protocol.ImportKeyResponse
	if st, msg := c.call(protocol.OpImportKey, &protocol.ImportKeyRequest{Alias: "imp", Key: pemKey}, &imp); st != protocol.StatusOK {
		t.Fatalf("ImportKey = %v %s", st, msg)
	}
	if imp.Key.Origin != protocol.OriginImported {
		t.Errorf("ImportKey origin = %q, want imported", imp.Key.Origin)
	}
	var status protocol.StatusResponse
	c.call(protocol.OpStatus, &protocol.StatusRequest{}, &status)
	if len(status.SRKPublic) == 0 || len(status.SRKName) == 0 {
		t.Fatalf("Status srk_public, srk_name = %x, %x; want both", status.SRKPublic, status.SRKName)
	}
	var gen protocol.GenerateKeyResponse
	if st, msg := c.call(protocol.OpGenerateKey, &protocol.GenerateKeyRequest{Alias: "exp", Algorithm: protocol.AlgECP256,
		BackupTo: status.SRKPublic}, &gen); st != protocol.StatusOK || string(gen.Key.ExportableTo) != string(status.SRKName) {
		t.Fatalf("GenerateKey(backup_to) = %v %s, exportable_to %x; want OK, %x", st, msg, gen.Key.ExportableTo, status.SRKName)
	}
	if st, msg := c.call(protocol.OpExportKey, &protocol.ExportKeyRequest{Alias: "exp", Target: status.SRKPublic}, nil); st != protocol.StatusOK {
		t.Fatalf("ExportKey = %v %s", st, msg)
	}
	if st, _ := c.call(protocol.OpExportKey, &protocol.ExportKeyRequest{Alias: "imp", Target: status.SRKPublic}, nil); st != protocol.StatusNotExportable {
		t.Fatalf("ExportKey(imported key) = %v, want NOT_EXPORTABLE", st)
	}
	if st, _ := c.call(protocol.OpImportKey, &protocol.ImportKeyRequest{Alias: "junk", Key: []byte("junk")}, nil); st != protocol.StatusImportFailed {
		t.Fatalf("ImportKey(junk) = %v, want IMPORT_FAILED", st)
	}
	if st, _ := c.call(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: "junk"}, nil); st != protocol.StatusKeyNotFound {
		t.Fatalf("GetKey(junk) = %v, want KEY_NOT_FOUND", st)
	}
	td.stop()
	var sawImport, sawExport, sawRefused bool
	for _, l := range td.audit.auditLines(t) {
		switch {
		case l["op"] == "ImportKey" && l["alias"] == "imp" && l["status"] == "OK" && l["key_id"] != nil:
			sawImport = true
		case l["op"] == "ExportKey" && l["alias"] == "exp" && l["status"] == "OK" && l["key_id"] != nil:
			sawExport = true
		case l["op"] == "ImportKey" && l["alias"] == "junk" && l["status"] == "IMPORT_FAILED":
			sawRefused = true
		}
	}
	if !sawImport || !sawExport || !sawRefused {
		t.Errorf("audit: import %v, export %v, refused import %v; want all:\n%s", sawImport, sawExport, sawRefused, td.audit)
	}
	all := td.audit.String() + td.logs.String()
	pemBody := strings.Split(string(pemKey), "\n")[1]
	for _, secret := range []string{hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), pemBody} {
		if strings.Contains(all, secret) {
			t.Errorf("logs contain the imported key's bytes %q", secret)
		}
	}
}
