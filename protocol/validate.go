package protocol

// Value ranges the codec checks. Checks that need the agent's knowledge
// (the alias charset, algorithm and hash names, key purposes) are the
// agent's, with their own statuses.
const (
	MaxRandomBytes  = 1024     // GetRandom n is 1..MaxRandomBytes
	MaxMACData      = 64 << 10 // MAC and VerifyMAC data is 0..MaxMACData bytes
	MACTagSize      = 32       // an HMAC-SHA256 tag
	MaxSecretSize   = 128      // Seal secret is 1..MaxSecretSize bytes
	MaxListLimit    = 1000     // ListKeys limit is 0..MaxListLimit
	MaxPCRIndex     = 23       // PCR indices are 0..MaxPCRIndex (SHA-256 bank)
	MaxHelloVersion = 255      // versions travel in a u8 header field
)

// A required field must be present and non-empty: a zero-length string,
// byte string or array, a zero integer, or null counts as absent.

func required(field string, present bool) error {
	if present {
		return nil
	}
	return Errorf(StatusBadRequest, "missing required field %q", field)
}

func exactlyOne(a string, av []byte, b string, bv []byte) error {
	if (len(av) > 0) == (len(bv) > 0) {
		return Errorf(StatusBadRequest, "exactly one of %q and %q is required", a, b)
	}
	return nil
}

func checkPCRs(pcrs []uint) error {
	for _, p := range pcrs {
		if p > MaxPCRIndex {
			return Errorf(StatusBadRequest, "field \"pcrs\": index %d out of range 0..%d", p, MaxPCRIndex)
		}
	}
	return nil
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Validate implements Validator.
func (r *HelloRequest) Validate() error {
	if err := required("versions", len(r.Versions) > 0); err != nil {
		return err
	}
	for _, v := range r.Versions {
		if v == 0 || v > MaxHelloVersion {
			return Errorf(StatusBadRequest, "field \"versions\": %d out of range 1..%d", v, MaxHelloVersion)
		}
	}
	return nil
}

// Validate implements Validator.
func (r *GenerateKeyRequest) Validate() error {
	return firstError(
		required("alias", r.Alias != ""),
		required("algorithm", r.Algorithm != ""),
		checkPCRs(r.PCRs),
	)
}

// Validate implements Validator.
func (r *GetKeyRequest) Validate() error { return required("alias", r.Alias != "") }

// Validate implements Validator.
func (r *ListKeysRequest) Validate() error {
	if r.Limit > MaxListLimit {
		return Errorf(StatusBadRequest, "field \"limit\": %d out of range 0..%d", r.Limit, MaxListLimit)
	}
	return nil
}

// Validate implements Validator.
func (r *DeleteKeyRequest) Validate() error { return required("alias", r.Alias != "") }

// Validate implements Validator.
func (r *SignRequest) Validate() error {
	return firstError(
		required("alias", r.Alias != ""),
		required("hash", r.Hash != ""),
		exactlyOne("digest", r.Digest, "message", r.Message),
	)
}

// Validate implements Validator.
func (r *VerifyRequest) Validate() error {
	return firstError(
		required("alias", r.Alias != ""),
		required("hash", r.Hash != ""),
		exactlyOne("digest", r.Digest, "message", r.Message),
		required("signature", len(r.Signature) > 0),
	)
}

// Validate implements Validator.
func (r *DecryptRequest) Validate() error {
	return firstError(
		required("alias", r.Alias != ""),
		required("ciphertext", len(r.Ciphertext) > 0),
	)
}

// Validate implements Validator.
func (r *EncryptRequest) Validate() error {
	return firstError(
		required("alias", r.Alias != ""),
		required("plaintext", len(r.Plaintext) > 0),
	)
}

// Validate implements Validator.
func (r *ECDHRequest) Validate() error {
	return firstError(
		required("alias", r.Alias != ""),
		required("peer_public_key", len(r.PeerPublicKey) > 0),
	)
}

// Validate implements Validator.
func (r *SealRequest) Validate() error {
	if err := required("alias", r.Alias != ""); err != nil {
		return err
	}
	if err := required("secret", len(r.Secret) > 0); err != nil {
		return err
	}
	if len(r.Secret) > MaxSecretSize {
		return Errorf(StatusBadRequest, "field \"secret\": %d bytes, want 1..%d", len(r.Secret), MaxSecretSize)
	}
	return checkPCRs(r.PCRs)
}

// Validate implements Validator.
func (r *UnsealRequest) Validate() error { return required("alias", r.Alias != "") }

// Validate implements Validator.
func (r *GetRandomRequest) Validate() error {
	if r.N == 0 {
		return required("n", false)
	}
	if r.N > MaxRandomBytes {
		return Errorf(StatusBadRequest, "field \"n\": %d out of range 1..%d", r.N, MaxRandomBytes)
	}
	return nil
}

// Validate implements Validator.
func (r *StatusRequest) Validate() error { return nil }

// NegotiateVersion returns the highest version in offered that this package
// speaks, or an UNSUPPORTED_VERSION *Error.
func NegotiateVersion(offered []uint) (uint, error) {
	for _, v := range offered {
		if v == Version1 {
			return Version1, nil
		}
	}
	return 0, Errorf(StatusUnsupportedVersion, "no common protocol version; this server speaks version 1")
}

var (
	_ Validator = (*HelloRequest)(nil)
	_ Validator = (*GenerateKeyRequest)(nil)
	_ Validator = (*GetKeyRequest)(nil)
	_ Validator = (*ListKeysRequest)(nil)
	_ Validator = (*DeleteKeyRequest)(nil)
	_ Validator = (*SignRequest)(nil)
	_ Validator = (*VerifyRequest)(nil)
	_ Validator = (*DecryptRequest)(nil)
	_ Validator = (*EncryptRequest)(nil)
	_ Validator = (*ECDHRequest)(nil)
	_ Validator = (*SealRequest)(nil)
	_ Validator = (*UnsealRequest)(nil)
	_ Validator = (*GetRandomRequest)(nil)
	_ Validator = (*StatusRequest)(nil)
)

// Validate implements Validator.
func (r *MACRequest) Validate() error { return checkMACInput(r.Alias, r.Data) }

// checkMACInput is what MAC and VerifyMAC require of alias and data.
func checkMACInput(alias string, data []byte) error {
	if err := required("alias", alias != ""); err != nil {
		return err
	}
	if len(data) > MaxMACData {
		return Errorf(StatusBadRequest, "field \"data\": %d bytes, more than %d", len(data), MaxMACData)
	}
	return nil
}

// Validate implements Validator.
func (r *VerifyMACRequest) Validate() error {
	if err := checkMACInput(r.Alias, r.Data); err != nil {
		return err
	}
	if len(r.Tag) != MACTagSize {
		return Errorf(StatusBadRequest, "field \"tag\": %d bytes, want %d", len(r.Tag), MACTagSize)
	}
	return nil
}

// Validate implements Validator.
func (r *RotateKeyRequest) Validate() error { return required("alias", r.Alias != "") }
