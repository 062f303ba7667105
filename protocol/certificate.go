package protocol

// Certificate operations (docs/PROTOCOL.md §6.33): an X.509 certificate
// stored next to a key, for the PKCS#11 token's CKO_CERTIFICATE objects and
// `tpmkey cert`.
const (
	OpPutCertificate    Op = 52
	OpGetCertificate    Op = 53
	OpDeleteCertificate Op = 54
	OpListCertificates  Op = 55
)

// MaxCertificateSize is the longest certificate, DER, in bytes.
const MaxCertificateSize = 16 << 10

// CertificateInfo is a stored certificate and the key it belongs to.
type CertificateInfo struct {
	Alias       string `cbor:"alias"`       // the key's alias
	KeyID       []byte `cbor:"key_id"`      // the key's id
	Certificate []byte `cbor:"certificate"` // DER
	Created     int64  `cbor:"created"`     // Unix seconds, when it was stored
}

type PutCertificateRequest struct {
	Alias       string `cbor:"alias"`
	Certificate []byte `cbor:"certificate"` // DER X.509 whose public key is the key's
}

type PutCertificateResponse struct {
	Certificate CertificateInfo `cbor:"certificate"`
}

type GetCertificateRequest struct {
	Alias string `cbor:"alias"`
}

type GetCertificateResponse struct {
	Certificate CertificateInfo `cbor:"certificate"`
}

type DeleteCertificateRequest struct {
	Alias string `cbor:"alias"`
}

type DeleteCertificateResponse struct{}

type ListCertificatesRequest struct {
	Cursor string `cbor:"cursor,omitempty"`
	Limit  uint   `cbor:"limit,omitempty"` // 0: the server default
}

type ListCertificatesResponse struct {
	Certificates []CertificateInfo `cbor:"certificates"`
	NextCursor   string            `cbor:"next_cursor,omitempty"`
}

func (r *PutCertificateRequest) KeyAlias() string         { return r.Alias }
func (r *GetCertificateRequest) KeyAlias() string         { return r.Alias }
func (r *DeleteCertificateRequest) KeyAlias() string      { return r.Alias }
func (r *PutCertificateRequest) KeyNamespace() *uint32    { return nil }
func (r *GetCertificateRequest) KeyNamespace() *uint32    { return nil }
func (r *DeleteCertificateRequest) KeyNamespace() *uint32 { return nil }

// Validate implements Validator.
func (r *PutCertificateRequest) Validate() error {
	if len(r.Certificate) > MaxCertificateSize {
		return Errorf(StatusBadRequest, "field \"certificate\": %d bytes, at most %d", len(r.Certificate), MaxCertificateSize)
	}
	return firstError(required("alias", r.Alias != ""), required("certificate", len(r.Certificate) > 0))
}

// Validate implements Validator.
func (r *GetCertificateRequest) Validate() error { return required("alias", r.Alias != "") }

// Validate implements Validator.
func (r *DeleteCertificateRequest) Validate() error { return required("alias", r.Alias != "") }

// Validate implements Validator.
func (r *ListCertificatesRequest) Validate() error {
	if r.Limit > MaxListLimit {
		return Errorf(StatusBadRequest, "field \"limit\": %d out of range 0..%d", r.Limit, MaxListLimit)
	}
	return nil
}
