package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// rawFrame builds a request frame by hand, bypassing the encoder.
func rawFrame(version, flags uint8, op Op, body []byte) []byte {
	payload := []byte{version, flags, byte(op >> 8), byte(op), 0, 0, 0, 42}
	payload = append(payload, body...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(payload))), payload...)
}

// cborOf encodes v with the library defaults, for hand-made bad bodies.
func cborOf(v any) []byte {
	b, err := cbor.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// nested returns a Sign body whose alias is depth nested arrays.
func nested(depth int) []byte {
	body := append([]byte{0xa1, 0x65}, "alias"...)
	body = append(body, bytes.Repeat([]byte{0x81}, depth-1)...)
	return append(body, 0x80)
}

func TestMalformedFrames(t *testing.T) {
	v1 := func(op Op, body []byte) []byte { return rawFrame(Version1, 0, op, body) }
	tests := []struct {
		name       string
		stream     []byte
		wantErr    error  // errors.Is target
		wantStatus Status // StatusOf the error
		wantMsg    string // substring of the error text
	}{
		{"truncated-length-prefix", []byte{0, 0}, io.ErrUnexpectedEOF, StatusInternal, "length prefix"},
		{"truncated-header", []byte{0, 0, 0, 8, 1, 0, 0}, io.ErrUnexpectedEOF, StatusInternal, "payload (3 of 8 bytes)"},
		{"header-shorter-than-8", []byte{0, 0, 0, 3, 1, 0, 0}, ErrShortFrame, StatusBadRequest, "shorter than its 8-byte header"},
		{"truncated-body", v1(OpGetKey, cborOf(map[string]any{"alias": "web"}))[:15], io.ErrUnexpectedEOF, StatusInternal, "payload"},
		{"zero-length", []byte{0, 0, 0, 0}, ErrEmptyFrame, StatusBadRequest, "zero-length"},
		{"huge-length", []byte{0xff, 0xff, 0xff, 0xff, 1, 0}, ErrFrameTooLarge, StatusFrameTooLarge, "4294967295 exceeds the limit 1048576"},
		{"one-over-limit", binary.BigEndian.AppendUint32(nil, DefaultMaxFrameSize+1), ErrFrameTooLarge, StatusFrameTooLarge, "exceeds"},
		{"unknown-version", rawFrame(2, 0, OpStatus, nil), ErrUnsupportedVersion, StatusUnsupportedVersion, "version 2"},
		{"nonzero-flags", rawFrame(Version1, 0x80, OpStatus, nil), ErrBadRequest, StatusBadRequest, "flags 0x80"},
		{"unknown-opcode", v1(999, nil), ErrUnknownOp, StatusUnknownOp, "opcode 999"},
		{"opcode-zero", v1(0, nil), ErrUnknownOp, StatusUnknownOp, "opcode 0"},
		{"reserved-opcode", v1(OpAttest, nil), ErrUnknownOp, StatusUnknownOp, "opcode 37"},
		{"request-id-0", []byte{0, 0, 0, 9, 1, 0, 0, 14, 0, 0, 0, 0, 0xa0}, ErrBadRequest, StatusBadRequest, "request id 0 is reserved"},
		{"unknown-opcode-before-id-0", []byte{0, 0, 0, 9, 1, 0, 0x03, 0xe7, 0, 0, 0, 0, 0xa0}, ErrUnknownOp, StatusUnknownOp, "opcode 999"},
		{"flags-before-opcode", []byte{0, 0, 0, 9, 1, 1, 0x03, 0xe7, 0, 0, 0, 0, 0xa0}, ErrBadRequest, StatusBadRequest, "flags 0x01"},
		{"version-before-flags", []byte{0, 0, 0, 9, 2, 1, 0x03, 0xe7, 0, 0, 0, 0, 0xa0}, ErrUnsupportedVersion, StatusUnsupportedVersion, "version 2"},
		{"invalid-cbor", v1(OpStatus, []byte{0xa1, 0xff}), ErrBadRequest, StatusBadRequest, "invalid CBOR"},
		{"truncated-cbor", v1(OpGetKey, []byte{0xa1, 0x65, 'a', 'l'}), ErrBadRequest, StatusBadRequest, "invalid CBOR"},
		{"trailing-bytes", v1(OpStatus, []byte{0xa0, 0x00}), ErrBadRequest, StatusBadRequest, "invalid CBOR"},
		{"trailing-bytes-after-non-text-key", v1(OpStatus, []byte{0xa1, 0xf5, 0x01, 0x00}), ErrBadRequest, StatusBadRequest, "invalid CBOR"},
		{"tag-as-key", v1(OpStatus, mustHex("a1"+"c101"+"01")), ErrBadRequest, StatusBadRequest, "tag"},
		{"tag-beside-non-text-key", v1(OpStatus, mustHex("a1"+"f5"+"c101")), ErrBadRequest, StatusBadRequest, "tag"},
		{"truncated-after-non-text-key", v1(OpGetKey, mustHex("a2"+"f5"+"01"+"65616c")), ErrBadRequest, StatusBadRequest, "invalid CBOR"},
		{"body-not-a-map", v1(OpStatus, []byte{0x80}), ErrBadRequest, StatusBadRequest, "not a CBOR map"},
		{"body-null", v1(OpStatus, []byte{0xf6}), ErrBadRequest, StatusBadRequest, "not a CBOR map"},
		{"deeply-nested", v1(OpGetKey, nested(MaxNestingDepth+4)), ErrBadRequest, StatusBadRequest, "decode limit"},
		{"too-many-elements", v1(OpHello, cborOf(map[string]any{"versions": make([]uint, MaxArrayLength+1)})), ErrBadRequest, StatusBadRequest, "decode limit"},
		{"duplicate-key", v1(OpGetKey, mustHex("a2"+"65616c696173"+"6161"+"65616c696173"+"6162")), ErrBadRequest, StatusBadRequest, "duplicate map key alias"},
		{"tag", v1(OpGetRandom, mustHex("a1"+"616e"+"c24110")), ErrBadRequest, StatusBadRequest, "tag"},
		{"invalid-utf8", v1(OpGetKey, mustHex("a1"+"65616c696173"+"62ff00")), ErrBadRequest, StatusBadRequest, "UTF-8"},
		{"wrong-type-alias-bytes", v1(OpGetKey, cborOf(map[string]any{"alias": []byte("web")})), ErrBadRequest, StatusBadRequest, `field "alias"`},
		{"wrong-type-n-text", v1(OpGetRandom, cborOf(map[string]any{"n": "16"})), ErrBadRequest, StatusBadRequest, `field "n"`},
		{"wrong-type-pss-int", v1(OpSign, cborOf(map[string]any{"alias": "a", "hash": "sha256", "digest": []byte{1}, "pss": 1})), ErrBadRequest, StatusBadRequest, `field "pss"`},
		{"wrong-type-versions-map", v1(OpHello, cborOf(map[string]any{"versions": map[string]int{"a": 1}})), ErrBadRequest, StatusBadRequest, `field "versions"`},
		{"negative-uid", v1(OpListKeys, cborOf(map[string]any{"uid": -1})), ErrBadRequest, StatusBadRequest, `field "uid"`},
		{"uid-overflow", v1(OpListKeys, cborOf(map[string]any{"uid": uint64(1) << 32})), ErrBadRequest, StatusBadRequest, `field "uid"`},
		{"missing-alias", v1(OpSign, cborOf(map[string]any{"hash": "sha256", "digest": []byte{1}})), ErrBadRequest, StatusBadRequest, `missing required field "alias"`},
		{"field-names-are-case-sensitive", v1(OpGetKey, cborOf(map[string]any{"Alias": "web"})), ErrBadRequest, StatusBadRequest, `missing required field "alias"`},
		{"empty-body-sign", v1(OpSign, nil), ErrBadRequest, StatusBadRequest, `missing required field "alias"`},
		{"missing-hash", v1(OpSign, cborOf(map[string]any{"alias": "a", "digest": []byte{1}})), ErrBadRequest, StatusBadRequest, `missing required field "hash"`},
		{"digest-and-message", v1(OpSign, cborOf(map[string]any{"alias": "a", "hash": "sha256", "digest": []byte{1}, "message": []byte{2}})), ErrBadRequest, StatusBadRequest, `exactly one of "digest" and "message"`},
		{"neither-digest-nor-message", v1(OpVerify, cborOf(map[string]any{"alias": "a", "hash": "sha256", "signature": []byte{1}})), ErrBadRequest, StatusBadRequest, `exactly one`},
		{"random-zero", v1(OpGetRandom, cborOf(map[string]any{"n": 0})), ErrBadRequest, StatusBadRequest, `missing required field "n"`},
		{"random-too-many", v1(OpGetRandom, cborOf(map[string]any{"n": MaxRandomBytes + 1})), ErrBadRequest, StatusBadRequest, `"n": 1025 out of range`},
		{"secret-too-long", v1(OpSeal, cborOf(map[string]any{"alias": "s", "secret": make([]byte, MaxSecretSize+1)})), ErrBadRequest, StatusBadRequest, `"secret": 129 bytes`},
		{"pcr-out-of-range", v1(OpGenerateKey, cborOf(map[string]any{"alias": "k", "algorithm": "ec-p256", "pcrs": []int{24}})), ErrBadRequest, StatusBadRequest, `"pcrs": index 24`},
		{"list-limit-too-big", v1(OpListKeys, cborOf(map[string]any{"limit": MaxListLimit + 1})), ErrBadRequest, StatusBadRequest, `"limit"`},
		{"hello-version-zero", v1(OpHello, cborOf(map[string]any{"versions": []int{0}})), ErrBadRequest, StatusBadRequest, `"versions": 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readRequest(bytes.NewReader(tt.stream))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("read %x: error = %v, want errors.Is %v", tt.stream[:min(len(tt.stream), 16)], err, tt.wantErr)
			}
			if got := StatusOf(err); got != tt.wantStatus {
				t.Errorf("StatusOf(%v) = %s, want %s", err, got, tt.wantStatus)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

// TestLenientBodies checks what a decoder must accept from other encoders.
func TestLenientBodies(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		body []byte
		want any
	}{
		{"zero-length-body", OpStatus, nil, &StatusRequest{}},
		{"unknown-fields-ignored", OpGetKey, cborOf(map[string]any{"alias": "web", "colour": "blue", "x": []int{1}}), &GetKeyRequest{Alias: "web"}},
		{"integer-keys-ignored", OpGetKey, mustHex("a2" + "01" + "02" + "65616c696173" + "63776562"), &GetKeyRequest{Alias: "web"}},
		{"negative-integer-key-ignored", OpGetKey, mustHex("a2" + "20" + "02" + "65616c696173" + "63776562"), &GetKeyRequest{Alias: "web"}},
		{"byte-string-key-ignored", OpGetKey, mustHex("a2" + "43616263" + "01" + "65616c696173" + "63776562"), &GetKeyRequest{Alias: "web"}},
		{"array-key-ignored", OpGetKey, mustHex("a2" + "820102" + "a0" + "65616c696173" + "63776562"), &GetKeyRequest{Alias: "web"}},
		{"map-key-ignored", OpGetKey, mustHex("a2" + "a10102" + "01" + "65616c696173" + "63776562"), &GetKeyRequest{Alias: "web"}},
		{"bool-and-null-keys-ignored", OpGetKey, mustHex("a3" + "f5" + "01" + "f6" + "02" + "65616c696173" + "63776562"), &GetKeyRequest{Alias: "web"}},
		{"non-text-keys-in-indefinite-map", OpGetKey, mustHex("bf" + "f4" + "01" + "65616c696173" + "63776562" + "5f4101ff" + "01" + "ff"), &GetKeyRequest{Alias: "web"}},
		{"float-key-ignored", OpGetRandom, mustHex("a2" + "f93c00" + "01" + "616e" + "10"), &GetRandomRequest{N: 16}},
		{"indefinite-lengths", OpSign, mustHex("bf" + "65616c696173" + "7f61776162ff" + "6468617368" + "66736861323536" + "66646967657374" + "5f4101410" + "2ff" + "ff"),
			&SignRequest{Alias: "wb", Hash: "sha256", Digest: []byte{1, 2}}},
		{"non-canonical-order-and-widths", OpGetRandom, mustHex("a1" + "616e" + "1a00000010"), &GetRandomRequest{N: 16}},
		{"null-optional", OpListKeys, mustHex("a1" + "63756964" + "f6"), &ListKeysRequest{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeRequest(tt.op, tt.body)
			if err != nil {
				t.Fatalf("DecodeRequest(%s, %x) error: %v", tt.op, tt.body, err)
			}
			if !equalJSONish(got, tt.want) {
				t.Errorf("DecodeRequest(%s, %x) = %+v, want %+v", tt.op, tt.body, got, tt.want)
			}
		})
	}
}

// equalJSONish compares by deterministic re-encoding, so that a nil and an
// empty slice count as equal.
func equalJSONish(a, b any) bool {
	ea, errA := AppendRequest(nil, RequestHeader{}, a)
	eb, errB := AppendRequest(nil, RequestHeader{}, b)
	return errA == nil && errB == nil && bytes.Equal(ea, eb)
}
