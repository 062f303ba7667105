// Package tinkkms makes tpmkeyd a key management service for Tink
// (github.com/tink-crypto/tink-go/v2): a Client is a registry.KMSClient for
// key URIs of the form tpmkeyd://ALIAS, where ALIAS names an aes-256-gcm
// key in the caller's own tpmkeyd namespace, and its AEAD is that key
// (client.AEAD: AEADEncrypt and AEADDecrypt, docs/PROTOCOL.md). With it,
// Tink's aead.NewKMSEnvelopeAEAD2 encrypts with a fresh Tink data key
// per message and has tpmkeyd wrap that key.
package tinkkms

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// URIPrefix starts every key URI this package serves.
const URIPrefix = "tpmkeyd://"

// ErrUnsupportedURI means a key URI this Client does not serve.
var ErrUnsupportedURI = errors.New("tinkkms: unsupported key URI")

var (
	_ registry.KMSClient = (*Client)(nil)
	_ tink.AEAD          = (*client.AEAD)(nil)
)

// Client is a registry.KMSClient backed by one tpmkeyd connection.
type Client struct {
	c      *client.Client
	prefix string
	opts   []client.CallOption
}

// New returns a Client for the key URIs that start with uriPrefix, which
// must itself start with URIPrefix: "tpmkeyd://" serves every alias,
// "tpmkeyd://backup" only that key (as Tink's own KMS clients bind a key
// URI prefix). opts (such as client.WithPIN) go with every call. The
// Client uses c and does not close it.
func New(c *client.Client, uriPrefix string, opts ...client.CallOption) (*Client, error) {
	if !strings.HasPrefix(uriPrefix, URIPrefix) {
		return nil, fmt.Errorf("tinkkms.New: %w: %q does not start with %q", ErrUnsupportedURI, uriPrefix, URIPrefix)
	}
	return &Client{c: c, prefix: uriPrefix, opts: opts}, nil
}

// Supported reports whether keyURI is one of this Client's.
func (k *Client) Supported(keyURI string) bool {
	return strings.HasPrefix(keyURI, k.prefix) && len(keyURI) > len(URIPrefix)
}

// GetAEAD returns the AEAD of the key keyURI names. It does not ask the
// agent: a missing key, or one that is not aes-256-gcm, fails at the first
// Encrypt or Decrypt.
func (k *Client) GetAEAD(keyURI string) (tink.AEAD, error) {
	if !k.Supported(keyURI) {
		return nil, fmt.Errorf("tinkkms.GetAEAD: %w: %q (this client serves %q...)", ErrUnsupportedURI, keyURI, k.prefix)
	}
	return k.c.AEAD(strings.TrimPrefix(keyURI, URIPrefix), k.opts...), nil
}
