package protocol

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and the fuzz seed corpus")

// goldenFrames returns every golden frame by file stem: one request and one
// response per operation, plus an error response.
func goldenFrames(t *testing.T) map[string][]byte {
	t.Helper()
	frames := map[string][]byte{}
	for _, v := range vectors() {
		req, err := AppendRequest(nil, RequestHeader{Version: Version1, Op: v.op, ID: v.id}, v.req)
		if err != nil {
			t.Fatalf("AppendRequest(%s): %v", v.op, err)
		}
		resp, err := AppendResponse(nil, ResponseHeader{Version: Version1, Op: v.op, ID: v.id, Status: StatusOK}, v.resp)
		if err != nil {
			t.Fatalf("AppendResponse(%s): %v", v.op, err)
		}
		frames[v.name+".request"] = req
		frames[v.name+".response"] = resp
	}
	e, err := AppendErrorResponse(nil, RequestHeader{Version: Version1, Op: OpGetKey, ID: 3},
		Errorf(StatusKeyNotFound, `no key "web"`))
	if err != nil {
		t.Fatalf("AppendErrorResponse: %v", err)
	}
	frames["error.response"] = e
	return frames
}

func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	frames := goldenFrames(t)
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, f := range frames {
			if err := os.WriteFile(filepath.Join(dir, name+".hex"), []byte(hex.EncodeToString(f)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, want := range frames {
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(dir, name+".hex"))
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			got, err := hex.DecodeString(strings.TrimSpace(string(text)))
			if err != nil {
				t.Fatalf("golden %s: %v", name, err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("encoding of %s = %x, want golden %x", name, want, got)
			}
		})
	}
}

// TestGoldenDecodes decodes the checked-in vectors, so that they are checked
// against the sample values and not only against our own encoder.
func TestGoldenDecodes(t *testing.T) {
	for _, v := range vectors() {
		t.Run(v.name, func(t *testing.T) {
			req := readGolden(t, v.name+".request")
			h, got, err := readRequest(bytes.NewReader(req))
			if err != nil || h.ID != v.id || !reflect.DeepEqual(got, v.req) {
				t.Errorf("decode golden %s request = %+v, %+v, %v, want %+v", v.name, h, got, err, v.req)
			}
			payload, err := ReadFrame(bytes.NewReader(readGolden(t, v.name+".response")), 0)
			if err != nil {
				t.Fatalf("ReadFrame: %v", err)
			}
			rh, body, err := ParseResponse(payload)
			resp := NewResponse(v.op)
			if err == nil {
				err = DecodeResponse(rh, body, resp)
			}
			if err != nil || !reflect.DeepEqual(resp, v.resp) {
				t.Errorf("decode golden %s response = %+v, %v, want %+v", v.name, resp, err, v.resp)
			}
		})
	}
}

// TestGoldenInDocs checks that docs/PROTOCOL.md shows every vector as it
// is in testdata (whitespace inside the hex blocks is ignored).
func TestGoldenInDocs(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatalf("read PROTOCOL.md: %v", err)
	}
	flat := strings.Join(strings.Fields(string(doc)), "")
	for name := range goldenFrames(t) {
		if h := hex.EncodeToString(readGolden(t, name)); !strings.Contains(flat, h) {
			t.Errorf("docs/PROTOCOL.md lacks the %s vector %s", name, h)
		}
	}
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "golden", name+".hex"))
	if err != nil {
		t.Fatalf("read golden %s: %v", name, err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return b
}

// TestUpdateFuzzCorpus writes the seed corpus under testdata/fuzz when run
// with -update: every golden request, plus hostile frames.
func TestUpdateFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the seed corpus")
	}
	for _, v := range vectors() {
		frame, err := AppendRequest(nil, RequestHeader{Op: v.op, ID: v.id}, v.req)
		if err != nil {
			t.Fatal(err)
		}
		writeSeed(t, "FuzzReadFrame", v.name, fmt.Sprintf("[]byte(%q)", frame))
		writeSeed(t, "FuzzDecodeRequest", v.name, fmt.Sprintf("uint16(%d)\n[]byte(%q)", v.op, frame[LengthPrefixSize+RequestHeaderSize:]))
	}
	hostile := map[string][]byte{
		"huge-length":   {0xff, 0xff, 0xff, 0xff, 1, 0, 0, 6},
		"zero-length":   {0, 0, 0, 0},
		"short-header":  {0, 0, 0, 3, 1, 0, 0},
		"deeply-nested": rawFrame(Version1, 0, OpGetKey, nested(40)),
		"reserved-op":   rawFrame(Version1, 0, OpAttest, []byte{0xa0}),
		"bad-version":   rawFrame(9, 0, OpSign, []byte{0xa0}),
	}
	for name, frame := range hostile {
		writeSeed(t, "FuzzReadFrame", name, fmt.Sprintf("[]byte(%q)", frame))
	}
	writeSeed(t, "FuzzDecodeRequest", "deeply-nested", fmt.Sprintf("uint16(%d)\n[]byte(%q)", OpGetKey, nested(40)))
	writeSeed(t, "FuzzDecodeRequest", "indefinite", fmt.Sprintf("uint16(%d)\n[]byte(%q)", OpSign,
		mustHex("bf65616c6961737f61776162ff646861736866736861323536666469676573745f41014102ffff")))
}

func writeSeed(t *testing.T, target, name, values string) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+values+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}
