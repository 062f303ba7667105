package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestKnownHostsMatch(t *testing.T) {
	salt := []byte("0123456789abcdefghij")
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte("db.example"))
	hashed := "|1|" + base64.StdEncoding.EncodeToString(salt) + "|" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	tests := []struct {
		host     string
		patterns []string
		want     bool
	}{
		{"db.example", []string{"db.example"}, true},
		{"db.example", []string{"web.example", "db.example"}, true},
		{"db.example", []string{"*.example"}, true},
		{"db.example", []string{"*.example", "!db.example"}, false},
		{"db.example", []string{"d?.example"}, true},
		{"db.example", []string{"db"}, false},
		{"db.example", []string{hashed}, true},
		{"web.example", []string{hashed}, false},
		{"[127.0.0.1]:2222", []string{"[127.0.0.1]:2222"}, true},
	}
	for _, tt := range tests {
		if got := knownHostsMatch(tt.host, tt.patterns); got != tt.want {
			t.Errorf("knownHostsMatch(%q, %q) = %v, want %v", tt.host, tt.patterns, got, tt.want)
		}
	}
}

func TestSSHDestinationsFromKnownHosts(t *testing.T) {
	key := func() string {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pk, _ := ssh.NewPublicKey(&k.PublicKey)
		return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	}
	jump, db, ca, gone := key(), key(), key(), key()
	kh := filepath.Join(t.TempDir(), "known_hosts")
	body := "# comment\njump " + jump + "\ndb,db.example " + db + "\n@cert-authority *.example " + ca +
		"\n@revoked db " + gone + "\n"
	if err := os.WriteFile(kh, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := sshDestinations([]string{"jump", "jump>git@db.example"}, []string{kh})
	if err != nil {
		t.Fatalf("sshDestinations = %v", err)
	}
	if len(ds) != 2 || ds[0].ToHost != "jump" || len(ds[0].ToKeys) != 1 || ds[0].FromHost != "" ||
		ds[1].FromHost != "jump" || len(ds[1].FromKeys) != 1 || ds[1].ToUser != "git" || ds[1].ToHost != "db.example" ||
		len(ds[1].ToKeys) != 1 || len(ds[1].ToCAKeys) != 1 {
		t.Errorf("sshDestinations = %+v, want jump, then jump>git@db.example with a key and a CA", ds)
	}
	for _, bad := range []string{"nowhere", "git@", "a@jump>db", ">db"} {
		if _, err := sshDestinations([]string{bad}, []string{kh}); err == nil {
			t.Errorf("sshDestinations(%q) = nil error, want one", bad)
		}
	}
}
