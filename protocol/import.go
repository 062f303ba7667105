package protocol

// Import, export and the key origins (docs/PROTOCOL.md §6.19, §6.20).

// Key origins (KeyInfo.Origin).
const (
	OriginGenerated       = "generated"        // made by this TPM
	OriginImported        = "imported"         // plaintext given to ImportKey
	OriginImportedWrapped = "imported-wrapped" // wrapped for this TPM elsewhere
)

// PIN schemes of a wrapped key's auth value (WrappedKey.PINScheme).
const (
	PINSchemeRaw    = "raw"    // the PIN bytes are the auth value (tpm2-tools -p)
	PINSchemeSHA256 = "sha256" // tpmkeyd's own derivation (§6.3)
)

// ImportKeyRequest imports an existing key. Exactly one of Key and
// Wrapped is set. Key is the private key in plain: PKCS #8, SEC1 or
// PKCS #1, DER or PEM (unencrypted), or the raw key bytes of an
// hmac-sha256 key (then Algorithm says so). Wrapped is a key wrapped for
// this TPM's SRK (Status srk_public): its purposes and PIN come with it.
type ImportKeyRequest struct {
	Alias     string      `cbor:"alias"`
	Algorithm string      `cbor:"algorithm,omitempty"` // required for raw key bytes and versions; else, if given, must match the key
	Key       []byte      `cbor:"key,omitempty"`
	Wrapped   *WrappedKey `cbor:"wrapped,omitempty"`
	// Versions is a symmetric key wrapped version by version (an
	// ExportKey of one), instead of Key or Wrapped.
	Versions []WrappedVersion `cbor:"versions,omitempty"`
	// KeyID, MinDecryptionVersion and RotationPeriod restore a key's
	// record as ExportKey described it; with Wrapped or Versions only.
	KeyID                []byte   `cbor:"key_id,omitempty"` // 16 bytes, free in the namespace
	MinDecryptionVersion uint32   `cbor:"min_decryption_version,omitempty"`
	RotationPeriod       uint64   `cbor:"rotation_period,omitempty"` // seconds
	Purposes             []string `cbor:"purposes,omitempty"`        // default: ["sign"] (["mac"] for hmac-sha256); not with wrapped
	PIN                  []byte   `cbor:"pin,omitempty"`             // not with wrapped
	PCRs                 []uint   `cbor:"pcrs,omitempty"`            // not with wrapped
	UID                  *uint32  `cbor:"uid,omitempty"`             // admins only: import into another uid's namespace
}

// WrappedKey is a key in TPM2_Duplicate's format, each part marshalled as
// tpm2-tools writes it.
type WrappedKey struct {
	Public    []byte `cbor:"public"`               // TPM2B_PUBLIC
	Duplicate []byte `cbor:"duplicate"`            // TPM2B_PRIVATE: outer-wrapped sensitive area
	Seed      []byte `cbor:"seed"`                 // TPM2B_ENCRYPTED_SECRET: the seed, encrypted to the SRK
	PINScheme string `cbor:"pin_scheme,omitempty"` // how a PIN makes the auth value; absent: raw
}

// WrappedVersion is one version of a symmetric key, wrapped.
type WrappedVersion struct {
	Number   uint32     `cbor:"number"`
	Created  int64      `cbor:"created"` // Unix seconds
	Disabled bool       `cbor:"disabled,omitempty"`
	Wrapped  WrappedKey `cbor:"wrapped"`
}

type ImportKeyResponse struct {
	Key KeyInfo `cbor:"key"`
}

// ExportKeyRequest asks for an exportable key wrapped for the backup TPM
// it names: Target is that TPM's SRK TPM2B_PUBLIC, whose Name must be the
// key's exportable_to.
type ExportKeyRequest struct {
	Alias  string  `cbor:"alias"`
	Target []byte  `cbor:"target"`
	UID    *uint32 `cbor:"uid,omitempty"` // admins only
}

// ExportKeyResponse holds the wrapped duplicate and the key's description.
// For a symmetric key, Wrapped is empty and Versions holds every version,
// oldest first.
type ExportKeyResponse struct {
	Key      KeyInfo          `cbor:"key"`
	Wrapped  WrappedKey       `cbor:"wrapped"`
	Versions []WrappedVersion `cbor:"versions,omitempty"`
}

func (r *ImportKeyRequest) KeyAlias() string      { return r.Alias }
func (r *ImportKeyRequest) KeyNamespace() *uint32 { return r.UID }
func (r *ImportKeyRequest) Secrets() [][]byte     { return [][]byte{r.Key, r.PIN} }
func (r *ExportKeyRequest) KeyAlias() string      { return r.Alias }
func (r *ExportKeyRequest) KeyNamespace() *uint32 { return r.UID }
