package protocol

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// fastCases are AEAD messages with every optional field present and absent.
func fastCases(rnd *rand.Rand) []any {
	bs := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	ctx := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("%x%d", bs(rnd.IntN(30)), i)] = fmt.Sprintf("é%x", bs(rnd.IntN(300)))
		}
		// Keys of different lengths with the same prefix, to test the order.
		m["a"], m["b"], m["aa"] = "1", "", "3"
		return m
	}
	uid := func(v uint32) *uint32 { return &v }
	var out []any
	for _, n := range []int{0, 1, 23, 24, 255, 256, 65535, 65536, 1 << 20} {
		out = append(out,
			&AEADEncryptRequest{Alias: "k", Plaintext: bs(n)},
			&AEADEncryptRequest{Alias: "a-longer-alias-of-over-24-bytes", Plaintext: bs(n), Context: ctx(3), PIN: bs(6)},
			&AEADEncryptResponse{Ciphertext: bs(n), Version: uint32(n)},
			&AEADDecryptRequest{Ciphertext: bs(n)},
			&AEADDecryptRequest{Ciphertext: bs(n), Context: ctx(5), PIN: bs(4), UID: uid(uint32(n))},
			&AEADDecryptRequest{Ciphertext: bs(n), UID: uid(0)},
			&AEADDecryptResponse{Plaintext: bs(n), Alias: "k", Version: 1 << 31},
		)
	}
	out = append(out, &AEADEncryptRequest{}, &AEADEncryptResponse{}, &AEADDecryptRequest{}, &AEADDecryptResponse{})
	return out
}

func TestFastEncodeMatchesGeneral(t *testing.T) {
	for i, v := range fastCases(rand.New(rand.NewPCG(1, 2))) {
		t.Run(fmt.Sprintf("%T-%d", v, i), func(t *testing.T) {
			want, err := modes().enc.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			fe := v.(fastEncoder)
			got := appendCBOR(nil, fe)
			if !bytes.Equal(got, want) {
				t.Fatalf("appendCBOR(%T) = %x, want %x", v, head(got), head(want))
			}
			if fe.cborSize() != len(want) {
				t.Errorf("cborSize(%T) = %d, want %d", v, fe.cborSize(), len(want))
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 64)] }

// generalDecode is DecodeBody's general path.
func generalDecode(body []byte, v any) error {
	if err := modes().dec.Unmarshal(body, v); err != nil {
		return decodeError(err)
	}
	return nil
}

func TestFastDecodeMatchesGeneral(t *testing.T) {
	for i, v := range fastCases(rand.New(rand.NewPCG(3, 4))) {
		t.Run(fmt.Sprintf("%T-%d", v, i), func(t *testing.T) {
			body, err := modes().enc.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			typ := reflect.TypeOf(v).Elem()
			want := reflect.New(typ).Interface()
			if err := generalDecode(body, want); err != nil {
				t.Fatal(err)
			}
			got := reflect.New(typ).Interface()
			if !got.(fastDecoder).decodeCBOR(body) {
				t.Fatalf("decodeCBOR(%x) = false, want true", head(body))
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decodeCBOR(%x) = %+v, want %+v", head(body), got, want)
			}
		})
	}
}

// TestFastDecodeFallsBack: every form outside the plain one goes to the
// general decoder and gets exactly its answer.
func TestFastDecodeFallsBack(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"indefinite-map", "bf65616c696173616b69706c61696e746578744100ff"},
		{"indefinite-bytes", "a265616c696173616b69706c61696e746578745f4100ff"},
		{"unknown-field", "a365616c696173616b69706c61696e746578744100637a7a7a01"},
		{"duplicate-field", "a365616c696173616b65616c696173616b69706c61696e746578744100"},
		{"non-minimal-head", "a265616c6961737801" + "6b" + "69706c61696e74657874" + "4100"},
		{"invalid-utf8", "a265616c6961736180" + "69706c61696e746578744100"},
		{"wrong-type", "a265616c69617301" + "69706c61696e746578744100"},
		{"null", "a265616c696173f6" + "69706c61696e746578744100"},
		{"trailing", "a265616c696173616b69706c61696e74657874410000"},
		{"short", "a265616c696173616b69706c61696e7465787442"},
		{"duplicate-context-key", "a365616c696173616b69706c61696e74657874410067636f6e74657874a2616161626161616"},
		{"non-text-key", "a365616c696173616b69706c61696e74657874410001f5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.body
			if len(s)%2 == 1 {
				s += "0"
			}
			body := mustHex(s)
			var want AEADEncryptRequest
			wantErr := DecodeBodyGeneral(body, &want)
			var got AEADEncryptRequest
			gotErr := DecodeBody(body, &got)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
				t.Errorf("DecodeBody(%s) = %+v, %v, want %+v, %v", tt.body, got, gotErr, want, wantErr)
			}
		})
	}
}

// DecodeBodyGeneral is DecodeBody without the fast path.
func DecodeBodyGeneral(body []byte, v any) error {
	if len(body) > 0 {
		body, rebuilt := dropNonTextKeys(body)
		err := modes().dec.Unmarshal(body, v)
		if rebuilt {
			clear(body)
		}
		if err != nil {
			return decodeError(err)
		}
	}
	if val, ok := v.(Validator); ok {
		return val.Validate()
	}
	return nil
}

// TestFastDecodeAliases: request byte strings alias the body (the daemon
// clears the body after the request); response ones are copies (the
// client's frame buffer is reused).
func TestFastDecodeAliases(t *testing.T) {
	body, _ := modes().enc.Marshal(&AEADEncryptRequest{Alias: "k", Plaintext: []byte("secret")})
	var req AEADEncryptRequest
	if err := DecodeBody(body, &req); err != nil {
		t.Fatal(err)
	}
	clear(body)
	if !bytes.Equal(req.Plaintext, make([]byte, 6)) {
		t.Errorf("request plaintext after clearing the body = %q, want zeros (an alias)", req.Plaintext)
	}
	body, _ = modes().enc.Marshal(&AEADDecryptResponse{Alias: "k", Plaintext: []byte("secret")})
	var resp AEADDecryptResponse
	if err := DecodeBody(body, &resp); err != nil {
		t.Fatal(err)
	}
	clear(body)
	if string(resp.Plaintext) != "secret" {
		t.Errorf("response plaintext after clearing the body = %q, want %q (a copy)", resp.Plaintext, "secret")
	}
}

func TestBufferPoolClasses(t *testing.T) {
	var p BufferPool
	for _, n := range []int{1, 4096, 4097, 5120, 5121, 1 << 20, 1<<20 + 14, 3 << 20, 1 << 24, 1<<24 + 1} {
		bp := p.Get(n)
		if len(*bp) != n {
			t.Errorf("Get(%d) len = %d, want %d", n, len(*bp), n)
		}
		if c := cap(*bp); n > 4096 && n <= 1<<24 && c > n+n/4 {
			t.Errorf("Get(%d) cap = %d, want <= %d", n, c, n+n/4)
		}
		(*bp)[n-1] = 0xaa
		p.Put(bp)
		again := p.Get(n)
		if b := (*again)[:cap(*again)]; bytes.IndexByte(b, 0xaa) >= 0 {
			t.Errorf("Get(%d) after Put holds old bytes, want them cleared", n)
		}
	}
	for i := range poolClasses {
		if got := classOf(classSize(i)); got != i {
			t.Errorf("classOf(classSize(%d) = %d) = %d, want %d", i, classSize(i), got, i)
		}
		if got := classOf(classSize(i) + 1); i+1 < poolClasses && got != i+1 {
			t.Errorf("classOf(%d) = %d, want %d", classSize(i)+1, got, i+1)
		}
	}
}

// TestInPlaceLayout: data put at the layout's offset is where
// AppendResponse encodes it, and is not copied.
func TestInPlaceLayout(t *testing.T) {
	for _, n := range []int{0, 5, 23, 24, 300, 70000, 1 << 20} {
		h := ResponseHeader{Version: Version1, Op: OpAEADEncrypt, ID: 7}
		for _, tt := range []struct {
			name string
			make func(data []byte) any
			lay  func() (int, int)
		}{
			{"encrypt", func(d []byte) any { return &AEADEncryptResponse{Ciphertext: d, Version: 70000} },
				func() (int, int) { return AEADEncryptResponseLayout(70000, n) }},
			{"decrypt", func(d []byte) any { return &AEADDecryptResponse{Plaintext: d, Alias: "alias", Version: 3} },
				func() (int, int) { return AEADDecryptResponseLayout("alias", 3, n) }},
		} {
			t.Run(fmt.Sprintf("%s-%d", tt.name, n), func(t *testing.T) {
				size, off := tt.lay()
				buf := make([]byte, size)
				data := buf[off : off+n]
				for i := range data {
					data[i] = byte(i)
				}
				want, err := AppendResponse(nil, h, tt.make(bytes.Clone(data)))
				if err != nil {
					t.Fatal(err)
				}
				got, err := AppendResponse(buf[:0], h, tt.make(data))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) || len(got) != size {
					t.Fatalf("AppendResponse in place = %d bytes %x, want %d bytes %x", len(got), head(got), len(want), head(want))
				}
				if n > 0 && &got[0] != &buf[0] {
					t.Errorf("AppendResponse in place moved to a new buffer")
				}
			})
		}
	}
}

func TestAppendRequestSplit(t *testing.T) {
	h := RequestHeader{Version: Version1, Op: OpAEADEncrypt, ID: 9}
	for i, v := range fastCases(rand.New(rand.NewPCG(5, 6))) {
		t.Run(fmt.Sprintf("%T-%d", v, i), func(t *testing.T) {
			want, err := AppendRequest(nil, h, v)
			if err != nil {
				t.Fatal(err)
			}
			frame, tail, err := AppendRequestSplit([]byte("x"), h, v)
			if err != nil {
				t.Fatal(err)
			}
			if got := append(frame[1:], tail...); !bytes.Equal(got, want) {
				t.Errorf("AppendRequestSplit(%T) = %x, want %x", v, head(got), head(want))
			}
		})
	}
}

func TestDecodeBodyAliased(t *testing.T) {
	for _, n := range []int{10, aliasMinBody} {
		body, _ := modes().enc.Marshal(&AEADDecryptResponse{Alias: "k", Plaintext: bytes.Repeat([]byte{7}, n), Version: 1})
		var resp AEADDecryptResponse
		aliased, err := DecodeBodyAliased(body, &resp)
		if err != nil {
			t.Fatal(err)
		}
		if want := len(body) >= aliasMinBody; aliased != want || (&resp.Plaintext[0] == &body[len(body)-n]) != want {
			t.Errorf("DecodeBodyAliased(%d-byte plaintext) aliased = %v, want %v", n, aliased, want)
		}
		if len(resp.Plaintext) != n || resp.Alias != "k" || resp.Version != 1 {
			t.Errorf("DecodeBodyAliased(%d-byte plaintext) = %d bytes, %q, %d", n, len(resp.Plaintext), resp.Alias, resp.Version)
		}
	}
}

// FuzzFastDecode: DecodeBody with the fast path gives exactly what the
// general decoder gives, value and error, for the AEAD messages.
func FuzzFastDecode(f *testing.F) {
	for i, v := range fastCases(rand.New(rand.NewPCG(7, 8))) {
		if b, err := modes().enc.Marshal(v); err == nil && len(b) < 4096 {
			f.Add(uint8(i), b)
		}
	}
	f.Add(uint8(0), []byte{0xa1, 0x65, 'a', 'l', 'i', 'a', 's', 0x61, 'k'})
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		types := []func() any{
			func() any { return new(AEADEncryptRequest) }, func() any { return new(AEADEncryptResponse) },
			func() any { return new(AEADDecryptRequest) }, func() any { return new(AEADDecryptResponse) },
		}
		mk := types[int(which)%len(types)]
		want, got := mk(), mk()
		wantErr := DecodeBodyGeneral(bytes.Clone(body), want)
		gotErr := DecodeBody(bytes.Clone(body), got)
		if len(body) > 0 && body[0]>>5 != 5 {
			return // DecodeBody refuses a non-map before either decoder
		}
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
			t.Fatalf("DecodeBody(%x) error = %v, want %v", body, gotErr, wantErr)
		}
		if wantErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeBody(%x) = %+v, want %+v", body, got, want)
		}
	})
}
