package protocol

import (
	"errors"
	"strings"
	"testing"
)

// TestAEADRequestChecks: an encryption context is a map of text to text,
// without duplicate keys, within its limits; the other AEAD fields are
// checked before the server sees them.
func TestAEADRequestChecks(t *testing.T) {
	pre := []byte{0xa2, 0x65, 'a', 'l', 'i', 'a', 's', 0x61, 'a', 0x67, 'c', 'o', 'n', 't', 'e', 'x', 't'}
	manyPairs := map[string]string{}
	for i := range MaxContextPairs + 1 {
		manyPairs[strings.Repeat("k", i+1)] = ""
	}
	tests := []struct {
		name string
		op   Op
		body []byte
		req  Validator
		want string // "" : valid
	}{
		{"duplicate-context-key", OpAEADEncrypt, append(pre, 0xa2, 0x61, 'k', 0x61, 'v', 0x61, 'k', 0x61, 'w'), nil, "duplicate map key"},
		{"byte-string-context-key", OpAEADEncrypt, append(pre, 0xa1, 0x41, 'k', 0x61, 'v'), nil, "wrong type"},
		{"integer-context-value", OpAEADEncrypt, append(pre, 0xa1, 0x61, 'k', 0x01), nil, "wrong type"},
		{"context-ok", OpAEADEncrypt, append(pre, 0xa1, 0x61, 'k', 0x60), nil, ""},
		{"too-many-pairs", 0, nil, &AEADEncryptRequest{Alias: "a", Context: manyPairs}, "pairs"},
		{"empty-context-key", 0, nil, &AEADDecryptRequest{Ciphertext: []byte{1}, Context: map[string]string{"": "v"}}, "keys are 1.."},
		{"long-context-value", 0, nil, &ReEncryptRequest{Ciphertext: []byte{1}, ToAlias: "b",
			ToContext: map[string]string{"k": strings.Repeat("v", MaxContextValSize+1)}}, "values 0.."},
		{"no-ciphertext", 0, nil, &AEADDecryptRequest{}, `"ciphertext"`},
		{"datakey-15-bytes", 0, nil, &GenerateDataKeyRequest{Alias: "a", Bytes: 15}, `"bytes": 15`},
		{"datakey-64-bytes", 0, nil, &GenerateDataKeyRequest{Alias: "a", Bytes: 64}, ""},
		{"reencrypt-no-to-alias", 0, nil, &ReEncryptRequest{Ciphertext: []byte{1}}, `"to_alias"`},
		{"set-version-without-state", 0, nil, &SetKeyVersionRequest{Alias: "a", Version: 2}, "go together"},
		{"set-state-unknown", 0, nil, &SetKeyVersionRequest{Alias: "a", Version: 2, State: "gone"}, `"state"`},
		{"set-nothing", 0, nil, &SetKeyVersionRequest{Alias: "a"}, "nothing to change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.body != nil {
				err = DecodeBody(tt.body, NewRequest(tt.op))
			} else {
				err = tt.req.Validate()
			}
			if tt.want == "" {
				if err != nil {
					t.Errorf("check(%s) = %v, want nil", tt.name, err)
				}
				return
			}
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("check(%s) = %v, want BAD_REQUEST containing %q", tt.name, err, tt.want)
			}
		})
	}
}
