package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Destination constraints for tpmkey ssh enable --dest, written as ssh-add
// -h writes them ([user@]host or from>[user@]host), with the hosts' keys
// looked up in known_hosts files as ssh-add looks them up.

// maxKnownHostsSize bounds what is read of one known_hosts file.
const maxKnownHostsSize = 16 << 20

// defaultKnownHosts are the files ssh-add -h reads without -H.
func defaultKnownHosts() []string {
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".ssh", "known_hosts"), filepath.Join(home, ".ssh", "known_hosts2"))
	}
	return append(files, "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
}

// sshDestinations turns --dest specs into destinations, with the keys of
// each host from the known_hosts files (missing files are skipped).
func sshDestinations(specs, knownHosts []string) ([]client.SSHDestination, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if len(knownHosts) == 0 {
		knownHosts = defaultKnownHosts()
	}
	var out []client.SSHDestination
	for _, spec := range specs {
		from, to, hasFrom := strings.Cut(spec, ">")
		if !hasFrom {
			from, to = "", spec
		}
		user, host := "", to
		if i := strings.LastIndex(to, "@"); i >= 0 {
			user, host = to[:i], to[i+1:]
		}
		if host == "" || (hasFrom && (from == "" || strings.Contains(from, "@"))) {
			return nil, usagef("--dest %q: want [user@]host or from>[user@]host", spec)
		}
		d := client.SSHDestination{ToUser: user, ToHost: host}
		var err error
		if d.ToKeys, d.ToCAKeys, err = knownHostKeys(host, knownHosts); err != nil {
			return nil, err
		}
		if hasFrom {
			d.FromHost = from
			if d.FromKeys, d.FromCAKeys, err = knownHostKeys(from, knownHosts); err != nil {
				return nil, err
			}
		}
		out = append(out, d)
	}
	return out, nil
}

// knownHostKeys returns host's keys and certificate CA keys (SSH wire
// format) from files; none found is an error, as ssh-add makes it.
func knownHostKeys(host string, files []string) (keys, caKeys [][]byte, err error) {
	for _, f := range files {
		data, err := readKnownHosts(f)
		if err != nil {
			return nil, nil, err
		}
		for _, line := range knownHostsLines(data) {
			marker, hosts, pub, _, _, err := ssh.ParseKnownHosts(line)
			if err != nil || marker == "revoked" || !knownHostsMatch(host, hosts) {
				continue
			}
			if marker == "cert-authority" {
				caKeys = append(caKeys, pub.Marshal())
			} else {
				keys = append(keys, pub.Marshal())
			}
		}
	}
	if len(keys)+len(caKeys) == 0 {
		return nil, nil, usagef("--dest: no keys for host %q in %s", host, strings.Join(files, ", "))
	}
	return keys, caKeys, nil
}

func readKnownHosts(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err == nil && fi.Size() > maxKnownHostsSize {
		err = fmt.Errorf("%s: larger than %d bytes", path, maxKnownHostsSize)
	}
	var data []byte
	if err == nil {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, local(codeIO, fmt.Errorf("known_hosts: %w", err))
	}
	return data, nil
}

func knownHostsLines(data []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(data, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 && l[0] != '#' {
			out = append(out, l)
		}
	}
	return out
}

// knownHostsMatch reports whether host matches a known_hosts line's host
// list: a hashed entry (|1|salt|hash, HMAC-SHA1), or patterns with * and
// ?, where a matching !pattern excludes the line.
func knownHostsMatch(host string, patterns []string) bool {
	match := false
	for _, p := range patterns {
		if strings.HasPrefix(p, "|1|") {
			if hashedHostMatch(host, p) {
				match = true
			}
			continue
		}
		neg := strings.HasPrefix(p, "!")
		if protocol.MatchSSHPattern(host, strings.TrimPrefix(p, "!")) {
			if neg {
				return false
			}
			match = true
		}
	}
	return match
}

func hashedHostMatch(host, entry string) bool {
	parts := strings.Split(entry[3:], "|")
	if len(parts) != 2 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[0])
	sum, err2 := base64.StdEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(host))
	return hmac.Equal(mac.Sum(nil), sum)
}
