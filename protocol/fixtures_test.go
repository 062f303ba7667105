package protocol

import "encoding/hex"

// vector is one operation's sample exchange. The samples feed the round
// trip, golden, fuzz-seed and benchmark tests, so they are fixed values.
type vector struct {
	name string // golden file stem
	op   Op
	id   uint32
	req  any
	resp any
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// A real P-256 SubjectPublicKeyInfo and an ECDSA signature over "hello".
const (
	sampleSPKI = "3059301306072a8648ce3d020106082a8648ce3d030107034200048becf69f09511c9c741d91dd19622e92aea02020c7f10e2228475c694e51b41efe8e4c1cbee63d5dc62144ac6f72e4bf93bfe33b29d2f00262ed5c71b4755489"
	sampleSig  = "304502203d54919bd3cc3bf6ae3f4e5bc427b7f65982826048561da46e55a73b7c1b611e022100b83e3fd6543db54b62f11318c25dc9cef2f237e1a8839eddff90059c6e1d8306"
	// An ssh-ed25519 public key in SSH wire format (RFC 8709).
	sampleHostKey = "0000000b7373682d6564323535313900000020d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
	// sha256("hello")
	sampleDigest = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
)

func sampleKey() KeyInfo {
	return KeyInfo{
		Alias:     "web",
		KeyID:     mustHex("00112233445566778899aabbccddeeff"),
		OwnerUID:  1000,
		Algorithm: AlgECP256,
		Purposes:  []string{PurposeSign},
		Created:   1767225600, // 2026-01-01T00:00:00Z
		PublicKey: mustHex(sampleSPKI),
	}
}

// sampleCert is a certificate record of key web; the DER is a stand-in.
func sampleCert() CertificateInfo {
	return CertificateInfo{Alias: "web", KeyID: mustHex("00112233445566778899aabbccddeeff"),
		Certificate: mustHex("3003020101"), Created: 1767225600}
}

func sampleSealed() KeyInfo {
	return KeyInfo{
		Alias:     "db-password",
		KeyID:     mustHex("ffeeddccbbaa99887766554433221100"),
		OwnerUID:  1000,
		Algorithm: AlgSealed,
		Purposes:  []string{},
		HasPIN:    true,
		PCRs:      []uint{7},
		Created:   1767225600,
	}
}

// sampleMACKey is an hmac-sha256 key after one rotation.
func sampleMACKey() KeyInfo {
	return KeyInfo{
		Alias:     "mac-key",
		KeyID:     mustHex("0123456789abcdef0123456789abcdef"),
		OwnerUID:  1000,
		Algorithm: AlgHMACSHA256,
		Purposes:  []string{PurposeMAC},
		Created:   1767225600,
		Versions: []KeyVersionInfo{
			{Number: 1, Created: 1767225600, State: VersionEnabled},
			{Number: 2, Created: 1769904000, State: VersionEnabled},
		},
	}
}

// sampleAEADCiphertext is protocol/aeadfmt's golden vector
// (testdata/vectors.json): "hello, tpmkeyd" under version 2 of key
// a0a1...af, context sampleContext.
const sampleAEADCiphertext = "01a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00000002202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4bb314e508f9c506c1d5f193f4d1f0c1b1a5ec517b77dc450b969701b9f942fdf69fa1cd12ea8e0f40624da288beea3ba24959b738ebca48000d447ca7e49f"

func sampleContext() map[string]string { return map[string]string{"app": "billing", "tenant": "42"} }

// sampleAEADKey is an aes-256-gcm key with version 1 disabled.
func sampleAEADKey() KeyInfo {
	return KeyInfo{
		Alias:     "aead-key",
		KeyID:     mustHex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"),
		OwnerUID:  1000,
		Algorithm: AlgAES256GCM,
		Purposes:  []string{PurposeEncrypt},
		Created:   1767225600,
		Versions: []KeyVersionInfo{
			{Number: 1, Created: 1767225600, State: VersionDisabled},
			{Number: 2, Created: 1769904000, State: VersionEnabled},
		},
		MinDecryptionVersion: 2,
		RotationPeriod:       7776000, // 90 days
	}
}

// sampleSSHKey is sampleKey marked for ssh until 2027-01-01.
func sampleSSHKey() KeyInfo {
	k := sampleKey()
	k.SSH = &SSHInfo{Comment: "me@laptop", NotAfter: 1798761600}
	return k
}

func uid(u uint32) *uint32 { return &u }

// Sample TPM structures: short stand-ins with well-formed size prefixes.
const (
	sampleTPM2BPublic = "001a0023000b00060072000000100010000300100000000000000000"
	sampleSRKName     = "000b2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
)

func sampleWrapped() *WrappedKey {
	return &WrappedKey{Public: mustHex(sampleTPM2BPublic), Duplicate: mustHex("0004deadbeef"), Seed: mustHex("0004cafebabe")}
}

func sampleImported(origin string) KeyInfo {
	k := sampleKey()
	k.Origin = origin
	return k
}

func sampleExportable() KeyInfo {
	k := sampleKey()
	k.Origin, k.ExportableTo = OriginGenerated, mustHex(sampleSRKName)
	return k
}

func vectors() []vector {
	return []vector{
		{"hello", OpHello, 1, &HelloRequest{Versions: []uint{1}, Client: "tpmkey/1.0"}, &HelloResponse{
			Version: 1, AgentVersion: "1.0.0", TPMManufacturer: "IBM", TPMFirmware: "20191023.164445",
			Algorithms:   []string{AlgECP256, AlgECP384, AlgRSA2048, AlgRSA3072, AlgSealed},
			Operations:   []string{"Hello", "GenerateKey", "GetKey", "ListKeys", "DeleteKey", "Sign", "Verify", "Decrypt", "Encrypt", "ECDH", "Seal", "Unseal", "GetRandom", "Status"},
			MaxFrameSize: DefaultMaxFrameSize,
		}},
		{"generate-key", OpGenerateKey, 2, &GenerateKeyRequest{Alias: "web", Algorithm: AlgECP256, Purposes: []string{PurposeSign}},
			&GenerateKeyResponse{Key: sampleKey()}},
		{"get-key", OpGetKey, 3, &GetKeyRequest{Alias: "web"}, &GetKeyResponse{Key: sampleKey()}},
		{"list-keys", OpListKeys, 4, &ListKeysRequest{Limit: 2, UID: uid(1000)},
			// Ascending by alias; the cursor is what the server sends after
			// "web": base64url of the last alias on the page.
			&ListKeysResponse{Keys: []KeyInfo{sampleSealed(), sampleKey()}, NextCursor: "d2Vi"}},
		{"delete-key", OpDeleteKey, 5, &DeleteKeyRequest{Alias: "web"}, &DeleteKeyResponse{}},
		{"sign", OpSign, 6, &SignRequest{Alias: "web", Digest: mustHex(sampleDigest), Hash: HashSHA256},
			&SignResponse{Signature: mustHex(sampleSig)}},
		{"verify", OpVerify, 7, &VerifyRequest{Alias: "web", Message: []byte("hello"), Hash: HashSHA256, Signature: mustHex(sampleSig)},
			&VerifyResponse{Valid: true}},
		{"decrypt", OpDecrypt, 8, &DecryptRequest{Alias: "rsa", Ciphertext: mustHex("8a3f5c0e"), Padding: PaddingOAEPSHA256, PIN: []byte("1234")},
			&DecryptResponse{Plaintext: []byte("secret")}},
		{"encrypt", OpEncrypt, 9, &EncryptRequest{Alias: "rsa", Plaintext: []byte("secret"), Padding: PaddingPKCS1v15},
			&EncryptResponse{Ciphertext: mustHex("8a3f5c0e")}},
		{"ecdh", OpECDH, 10, &ECDHRequest{Alias: "agree", PeerPublicKey: mustHex(sampleSPKI)},
			&ECDHResponse{SharedSecret: mustHex(sampleDigest)}},
		{"seal", OpSeal, 11, &SealRequest{Alias: "db-password", Secret: []byte("hunter2"), PIN: []byte("1234"), PCRs: []uint{7}},
			&SealResponse{Key: sampleSealed()}},
		{"unseal", OpUnseal, 12, &UnsealRequest{Alias: "db-password", PIN: []byte("1234")}, &UnsealResponse{Secret: []byte("hunter2")}},
		{"get-random", OpGetRandom, 13, &GetRandomRequest{N: 16}, &GetRandomResponse{Bytes: mustHex("000102030405060708090a0b0c0d0e0f")}},
		{"mac", OpMAC, 15, &MACRequest{Alias: "mac-key", Data: []byte("hello")},
			&MACResponse{Tag: mustHex(sampleDigest), Version: 2}},
		{"verify-mac", OpVerifyMAC, 16, &VerifyMACRequest{Alias: "mac-key", Data: []byte("hello"), Tag: mustHex(sampleDigest), Version: 2},
			&VerifyMACResponse{Valid: true}},
		{"rotate-key", OpRotateKey, 17, &RotateKeyRequest{Alias: "mac-key"}, &RotateKeyResponse{Key: sampleMACKey()}},
		{"import-key", OpImportKey, 18, &ImportKeyRequest{Alias: "web", Key: []byte("-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n"),
			Purposes: []string{PurposeSign}, PIN: []byte("1234")}, &ImportKeyResponse{Key: sampleImported(OriginImported)}},
		{"import-key-wrapped", OpImportKey, 19, &ImportKeyRequest{Alias: "web", Wrapped: sampleWrapped()},
			&ImportKeyResponse{Key: sampleImported(OriginImportedWrapped)}},
		{"import-key-versions", OpImportKey, 21, &ImportKeyRequest{Alias: "mac-key", Algorithm: AlgHMACSHA256,
			KeyID: mustHex("0123456789abcdef0123456789abcdef"), MinDecryptionVersion: 2,
			Versions: []WrappedVersion{{Number: 1, Created: 1767225600, Disabled: true, Wrapped: *sampleWrapped()},
				{Number: 2, Created: 1769904000, Wrapped: *sampleWrapped()}}},
			&ImportKeyResponse{Key: sampleImported(OriginImportedWrapped)}},
		{"export-key", OpExportKey, 20, &ExportKeyRequest{Alias: "web", Target: mustHex(sampleTPM2BPublic), UID: uid(1000)},
			&ExportKeyResponse{Key: sampleExportable(), Wrapped: *sampleWrapped()}},
		{"aead-encrypt", OpAEADEncrypt, 18, &AEADEncryptRequest{Alias: "aead-key", Plaintext: []byte("hello, tpmkeyd"), Context: sampleContext()},
			&AEADEncryptResponse{Ciphertext: mustHex(sampleAEADCiphertext), Version: 2}},
		{"aead-decrypt", OpAEADDecrypt, 19, &AEADDecryptRequest{Ciphertext: mustHex(sampleAEADCiphertext), Context: sampleContext()},
			&AEADDecryptResponse{Plaintext: []byte("hello, tpmkeyd"), Alias: "aead-key", Version: 2}},
		{"generate-data-key", OpGenerateDataKey, 20, &GenerateDataKeyRequest{Alias: "aead-key", Bytes: 16, Context: sampleContext()},
			&GenerateDataKeyResponse{Plaintext: mustHex("000102030405060708090a0b0c0d0e0f"), Ciphertext: mustHex(sampleAEADCiphertext), Version: 2}},
		{"re-encrypt", OpReEncrypt, 21, &ReEncryptRequest{Ciphertext: mustHex(sampleAEADCiphertext), FromContext: sampleContext(),
			ToAlias: "aead-key", ToContext: map[string]string{"app": "archive"}},
			&ReEncryptResponse{Ciphertext: mustHex(sampleAEADCiphertext), Version: 2}},
		{"set-key-version", OpSetKeyVersion, 22, &SetKeyVersionRequest{Alias: "aead-key", Version: 1, State: VersionDisabled},
			&SetKeyVersionResponse{Key: sampleAEADKey()}},
		{"ssh-key", OpSSHKey, 48, &SSHKeyRequest{Alias: "web", Action: SSHEnable, Comment: "me@laptop", NotAfter: 1798761600},
			&SSHKeyResponse{Key: sampleSSHKey()}},
		{"ssh-list", OpSSHList, 49, &SSHListRequest{}, &SSHListResponse{Keys: []KeyInfo{sampleSSHKey()}}},
		{"ssh-sign", OpSSHSign, 50, &SSHSignRequest{Alias: "web", Algorithm: SSHAlgECDSAP256, Data: []byte("hello"),
			KeyID: mustHex("00112233445566778899aabbccddeeff")}, &SSHSignResponse{Signature: mustHex(sampleSig)}},
		{"ssh-key-destinations", OpSSHKey, 48, &SSHKeyRequest{Alias: "web", Action: SSHEnable,
			Destinations: []SSHDestination{{ToUser: "git", ToHost: "example.org", ToKeys: [][]byte{mustHex(sampleHostKey)}}}},
			&SSHKeyResponse{Key: sampleSSHKey()}},
		{"ssh-sign-bound", OpSSHSign, 50, &SSHSignRequest{Alias: "web", Algorithm: SSHAlgECDSAP256, Data: []byte("hello"),
			Connection: &SSHConnection{Binds: []SSHBind{{HostKey: mustHex(sampleHostKey), SessionID: mustHex(sampleDigest)}}}},
			&SSHSignResponse{Signature: mustHex(sampleSig)}},
		{"ssh-agent", OpSSHAgent, 51, &SSHAgentRequest{Action: SSHAgentLock, Passphrase: []byte("hunter2")},
			&SSHAgentResponse{Locked: true}},
		{"put-certificate", OpPutCertificate, 52, &PutCertificateRequest{Alias: "web", Certificate: mustHex("3003020101")},
			&PutCertificateResponse{Certificate: sampleCert()}},
		{"get-certificate", OpGetCertificate, 53, &GetCertificateRequest{Alias: "web"}, &GetCertificateResponse{Certificate: sampleCert()}},
		{"delete-certificate", OpDeleteCertificate, 54, &DeleteCertificateRequest{Alias: "web"}, &DeleteCertificateResponse{}},
		{"list-certificates", OpListCertificates, 55, &ListCertificatesRequest{Limit: 10},
			&ListCertificatesResponse{Certificates: []CertificateInfo{sampleCert()}}},
		{"status", OpStatus, 14, &StatusRequest{}, &StatusResponse{
			AgentVersion: "1.0.0", TPMManufacturer: "IBM", TPMFirmware: "20191023.164445",
			UptimeSeconds: 3600, Keys: 2, Connections: 1, KeysPerUID: map[uint32]uint64{0: 1, 1000: 2},
		}},
	}
}
