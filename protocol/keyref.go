package protocol

// KeyRef is a request that names a key by alias and, for admins, another
// uid's namespace (nil: the caller's own). The agent's core resolves it in
// one lookup step, whatever front end the request came from.
type KeyRef interface {
	KeyAlias() string
	KeyNamespace() *uint32
}

func (r *GenerateKeyRequest) KeyAlias() string { return r.Alias }
func (r *GetKeyRequest) KeyAlias() string      { return r.Alias }
func (r *DeleteKeyRequest) KeyAlias() string   { return r.Alias }
func (r *SignRequest) KeyAlias() string        { return r.Alias }
func (r *VerifyRequest) KeyAlias() string      { return r.Alias }
func (r *DecryptRequest) KeyAlias() string     { return r.Alias }
func (r *EncryptRequest) KeyAlias() string     { return r.Alias }
func (r *ECDHRequest) KeyAlias() string        { return r.Alias }
func (r *SealRequest) KeyAlias() string        { return r.Alias }
func (r *UnsealRequest) KeyAlias() string      { return r.Alias }
func (r *MACRequest) KeyAlias() string         { return r.Alias }
func (r *VerifyMACRequest) KeyAlias() string   { return r.Alias }
func (r *RotateKeyRequest) KeyAlias() string   { return r.Alias }

func (r *GenerateKeyRequest) KeyNamespace() *uint32 { return nil }
func (r *GetKeyRequest) KeyNamespace() *uint32      { return r.UID }
func (r *DeleteKeyRequest) KeyNamespace() *uint32   { return r.UID }
func (r *SignRequest) KeyNamespace() *uint32        { return nil }
func (r *VerifyRequest) KeyNamespace() *uint32      { return nil }
func (r *DecryptRequest) KeyNamespace() *uint32     { return nil }
func (r *EncryptRequest) KeyNamespace() *uint32     { return nil }
func (r *ECDHRequest) KeyNamespace() *uint32        { return nil }
func (r *SealRequest) KeyNamespace() *uint32        { return nil }
func (r *UnsealRequest) KeyNamespace() *uint32      { return nil }
func (r *MACRequest) KeyNamespace() *uint32         { return nil }
func (r *VerifyMACRequest) KeyNamespace() *uint32   { return nil }
func (r *RotateKeyRequest) KeyNamespace() *uint32   { return nil }

// PINBearer is a request that uses a stored key's private part and may
// carry its PIN (Sign, Decrypt, ECDH, Unseal).
type PINBearer interface {
	KeyPIN() []byte
}

func (r *SignRequest) KeyPIN() []byte      { return r.PIN }
func (r *DecryptRequest) KeyPIN() []byte   { return r.PIN }
func (r *ECDHRequest) KeyPIN() []byte      { return r.PIN }
func (r *UnsealRequest) KeyPIN() []byte    { return r.PIN }
func (r *MACRequest) KeyPIN() []byte       { return r.PIN }
func (r *VerifyMACRequest) KeyPIN() []byte { return r.PIN }
func (r *RotateKeyRequest) KeyPIN() []byte { return r.PIN }

// Secretive is a request that carries secrets (PINs, plaintexts, secrets
// to seal). A server clears them once the request is answered.
type Secretive interface {
	Secrets() [][]byte
}

func (r *GenerateKeyRequest) Secrets() [][]byte { return [][]byte{r.PIN} }
func (r *SignRequest) Secrets() [][]byte        { return [][]byte{r.PIN} }
func (r *DecryptRequest) Secrets() [][]byte     { return [][]byte{r.PIN} }
func (r *EncryptRequest) Secrets() [][]byte     { return [][]byte{r.Plaintext} }
func (r *ECDHRequest) Secrets() [][]byte        { return [][]byte{r.PIN} }
func (r *SealRequest) Secrets() [][]byte        { return [][]byte{r.Secret, r.PIN} }
func (r *UnsealRequest) Secrets() [][]byte      { return [][]byte{r.PIN} }
func (r *MACRequest) Secrets() [][]byte         { return [][]byte{r.PIN} }
func (r *VerifyMACRequest) Secrets() [][]byte   { return [][]byte{r.PIN} }
func (r *RotateKeyRequest) Secrets() [][]byte   { return [][]byte{r.PIN} }
