package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSSHMarkingRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		m    *SSHMarking
	}{
		{"none", nil},
		{"empty", &SSHMarking{}},
		{"comment", &SSHMarking{Comment: "me@laptop"}},
		{"all", &SSHMarking{Comment: "c", NotAfter: time.Unix(1900000000, 0).UTC(), Certificate: []byte("cert")}},
		{"confirm", &SSHMarking{Confirm: true}},
		{"destinations", &SSHMarking{Destinations: []SSHDestination{
			{To: SSHHop{User: "git", Host: "github.com", Keys: []SSHHostKey{{Key: []byte("hk1")}, {Key: []byte("ca"), CA: true}}}},
			{From: SSHHop{Host: "bastion", Keys: []SSHHostKey{{Key: []byte("hk2")}}}, To: SSHHop{Host: "db", Keys: []SSHHostKey{{Key: []byte("hk3")}}}},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir, _ := newTestStore(t)
			r := testRecord(1000, "k")
			if err := s.Create(r, 0); err != nil {
				t.Fatalf("Create = %v", err)
			}
			up := r.clone()
			up.SSH = tt.m
			if err := s.Update(up); err != nil {
				t.Fatalf("Update = %v", err)
			}
			s2, _ := openTestStore(t, dir) // from disk, not the cache
			got, err := s2.Get(1000, "k")
			if err != nil {
				t.Fatalf("Get = %v", err)
			}
			if !reflect.DeepEqual(got.SSH, tt.m) {
				t.Errorf("Get().SSH = %+v, want %+v", got.SSH, tt.m)
			}
		})
	}
}

// TestSSHMarkingIsMACed: a marking edited on disk fails the record's MAC;
// a record without one keeps the bytes of before (the field is omitempty).
func TestSSHMarkingIsMACed(t *testing.T) {
	s, dir, _ := newTestStore(t)
	r := testRecord(1000, "k")
	r.SSH = &SSHMarking{Comment: "aaaa", Destinations: []SSHDestination{
		{To: SSHHop{Host: "github.com", Keys: []SSHHostKey{{Key: []byte("zzzz")}}}}}}
	if err := s.Create(r, 0); err != nil {
		t.Fatalf("Create = %v", err)
	}
	path := filepath.Join(dir, "keys", "1000", "k.key")
	data, _ := os.ReadFile(path)
	for _, edit := range [][2]string{{"aaaa", "aaab"}, {"zzzz", "zzzy"}} {
		bad := bytes.Replace(data, []byte(edit[0]), []byte(edit[1]), 1)
		if bytes.Equal(bad, data) {
			t.Fatalf("%q not found in the record file", edit[0])
		}
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		s2, _ := openTestStore(t, dir)
		if _, err := s2.Get(1000, "k"); !errors.Is(err, ErrKeyInvalidated) {
			t.Errorf("Get(marking with %q tampered) = %v, want %v", edit[0], err, ErrKeyInvalidated)
		}
	}
	if bytes.Contains(mustEncode(t, testRecord(1000, "k")), []byte("ssh")) {
		t.Error("a record without a marking encodes an ssh field")
	}
}

func TestSSHMarkingRefused(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *Record)
	}{
		{"sealed", func(r *Record) { r.Algorithm = "sealed"; r.PublicDER = nil }},
		{"long-comment", func(r *Record) { r.SSH.Comment = strings.Repeat("c", maxSSHComment+1) }},
		{"huge-certificate", func(r *Record) { r.SSH.Certificate = make([]byte, maxSSHCertificate+1) }},
		{"too-many-destinations", func(r *Record) {
			r.SSH.Destinations = make([]SSHDestination, MaxSSHDestinations+1)
		}},
		{"too-many-hop-keys", func(r *Record) {
			r.SSH.Destinations = []SSHDestination{{To: SSHHop{Host: "h", Keys: make([]SSHHostKey, MaxSSHHopKeys+1)}}}
		}},
		{"empty-host-key", func(r *Record) {
			r.SSH.Destinations = []SSHDestination{{To: SSHHop{Host: "h", Keys: []SSHHostKey{{}}}}}
		}},
		{"huge-destinations", func(r *Record) {
			for range 4 {
				r.SSH.Destinations = append(r.SSH.Destinations, SSHDestination{To: SSHHop{Host: "h",
					Keys: []SSHHostKey{{Key: make([]byte, MaxSSHDestinationBytes/4)}}}})
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _ := newTestStore(t)
			r := testRecord(1000, "k")
			r.SSH = &SSHMarking{}
			tt.edit(r)
			if err := s.Create(r, 0); !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("Create = %v, want %v", err, ErrInvalidRecord)
			}
		})
	}
}

func mustEncode(t *testing.T, r *Record) []byte {
	t.Helper()
	c, err := newRecordCodec()
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.encode(&secretKey{b: testMACKey()}, r)
	if err != nil {
		t.Fatalf("encode = %v", err)
	}
	return b
}
