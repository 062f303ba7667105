package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record file decoder (which
// must refuse, never panic) and to the body decoder behind the MAC (which
// must round-trip whatever it accepts). The seed corpus in
// testdata/fuzz/FuzzDecodeRecord holds valid files under testMACKey.
func FuzzDecodeRecord(f *testing.F) {
	c, err := newRecordCodec()
	if err != nil {
		f.Fatal(err)
	}
	key, _ := newSecretKey(testMACKey())
	valid, err := c.encode(key, testRecord(1000, "k"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte{0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if r, err := c.decode(key, 1000, "k", data); err == nil {
			if r.OwnerUID != 1000 || r.Alias != "k" {
				t.Fatalf("decode accepted a record of uid %d alias %q as uid 1000 alias k", r.OwnerUID, r.Alias)
			}
		}
		r, err := c.decodeBody(data)
		if err != nil {
			return
		}
		body, err := c.enc.Marshal(bodyOf(r))
		if err != nil {
			t.Fatalf("Marshal(decodeBody(data)) = %v", err)
		}
		r2, err := c.decodeBody(body)
		if err != nil || !equalRecords(r, r2) {
			t.Fatalf("decodeBody(Marshal(r)) = %+v, %v, want %+v", r2, err, r)
		}
	})
}

func TestRecordEncodingIsDeterministic(t *testing.T) {
	c, _ := newRecordCodec()
	key, _ := newSecretKey(testMACKey())
	a, err1 := c.encode(key, testRecord(1000, "k"))
	b, err2 := c.encode(key, testRecord(1000, "k").clone())
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Errorf("encode twice = %x, %v / %x, %v, want equal bytes", a, err1, b, err2)
	}
}

// TestSecretKeyNeverPrinted tries every way a key could reach a log.
func TestSecretKeyNeverPrinted(t *testing.T) {
	key, err := newSecretKey(bytes.Repeat([]byte{0xab}, IntegrityKeySize))
	if err != nil {
		t.Fatal(err)
	}
	var logBuf bytes.Buffer
	// Without the time, whose digits could spell "171" by chance.
	noTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	slog.New(slog.NewJSONHandler(&logBuf, noTime)).Info("x", "key", key, "val", *key)
	slog.New(slog.NewTextHandler(&logBuf, noTime)).Info("x", "key", key, "val", *key)
	jsonOut, jsonErr := json.Marshal(struct{ K *secretKey }{key})
	outputs := map[string]string{
		"fmt-v":       fmt.Sprintf("%v", key),
		"fmt-plus-v":  fmt.Sprintf("%+v", *key),
		"fmt-sharp-v": fmt.Sprintf("%#v", key),
		"fmt-x":       fmt.Sprintf("%x", *key),
		"fmt-s":       fmt.Sprintf("%s", key),
		"fmt-in-struct": fmt.Sprintf("%+v", struct {
			K secretKey
		}{*key}),
		"slog": logBuf.String(),
		"json": string(jsonOut),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if bytes.Contains([]byte(out), []byte("ab")) || bytes.Contains([]byte(out), []byte{0xab}) ||
				bytes.Contains([]byte(out), []byte("171")) {
				t.Errorf("%s output = %q, holds the key", name, out)
			}
		})
	}
	if jsonErr == nil {
		t.Errorf("json.Marshal(key) = nil error, want a refusal")
	}
	key.wipe()
	if !bytes.Equal(key.b, make([]byte, IntegrityKeySize)) {
		t.Errorf("after wipe key = %x, want zeros", key.b)
	}
}

func TestOpenKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33, 64} {
		t.Run(fmt.Sprintf("%d-bytes", n), func(t *testing.T) {
			if _, err := Open(t.TempDir(), make([]byte, n), nil); err == nil {
				t.Errorf("Open(key of %d bytes) = nil error, want a refusal", n)
			}
		})
	}
}
