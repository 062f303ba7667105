package store

import (
	"bytes"
	"errors"
	"testing"
)

// TestOriginRoundTrip: origin and export_to are stored, MAC-covered and
// read back; a record without them (every record written before) reads as
// generated and never leaving; an unknown origin is refused.
func TestOriginRoundTrip(t *testing.T) {
	c, _ := newRecordCodec()
	key, _ := newSecretKey(testMACKey())
	for _, tc := range []struct {
		name     string
		origin   string
		exportTo []byte
	}{
		{"generated", "", nil},
		{"imported", OriginImported, nil},
		{"imported-wrapped", OriginImportedWrapped, nil},
		{"exportable", "", bytes.Repeat([]byte{0x0b}, 34)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRecord(1000, "k")
			r.Origin, r.ExportTo = tc.origin, tc.exportTo
			b, err := c.encode(key, r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.decode(key, 1000, "k", b)
			if err != nil {
				t.Fatalf("decode = %v", err)
			}
			if got.Origin != tc.origin || !bytes.Equal(got.ExportTo, tc.exportTo) {
				t.Fatalf("decode = origin %q export_to %x, want %q %x", got.Origin, got.ExportTo, tc.origin, tc.exportTo)
			}
			if tc.origin == "" && tc.exportTo == nil {
				plain, _ := c.encode(key, testRecord(1000, "k"))
				if !bytes.Equal(b, plain) {
					t.Fatalf("a generated key's record changed bytes: omitempty fields must stay absent")
				}
			}
		})
	}
	t.Run("unknown-origin-refused", func(t *testing.T) {
		r := testRecord(1000, "k")
		r.Origin = "smuggled"
		b, err := c.encode(key, r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.decode(key, 1000, "k", b); err == nil || errors.Is(err, errRecordMAC) {
			t.Fatalf("decode(origin smuggled) = %v, want a refusal that is not a MAC failure", err)
		}
	})
}
