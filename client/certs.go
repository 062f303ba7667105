package client

import (
	"context"
	"crypto/x509"
	"fmt"
	"iter"
	"time"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// Certificate is an X.509 certificate stored next to a key
// (docs/PROTOCOL.md §6.33).
type Certificate struct {
	Alias   string // the key's alias
	KeyID   []byte // the key's id
	Created time.Time
	DER     []byte
	// Parsed is DER parsed; nil if it does not parse here.
	Parsed *x509.Certificate
}

func certFromWire(ci *protocol.CertificateInfo) *Certificate {
	c := &Certificate{Alias: ci.Alias, KeyID: ci.KeyID, Created: time.Unix(ci.Created, 0).UTC(), DER: ci.Certificate}
	c.Parsed, _ = x509.ParseCertificate(ci.Certificate)
	return c
}

// PutCertificate stores der, a DER X.509 certificate of the key alias,
// next to it, replacing the one stored before.
func (c *Client) PutCertificate(ctx context.Context, alias string, der []byte) (*Certificate, error) {
	var resp protocol.PutCertificateResponse
	if err := c.roundTrip(ctx, protocol.OpPutCertificate, &protocol.PutCertificateRequest{Alias: alias, Certificate: der}, &resp); err != nil {
		return nil, err
	}
	return certFromWire(&resp.Certificate), nil
}

// Certificate returns the certificate stored for the key alias
// (ErrKeyNotFound when there is none).
func (c *Client) Certificate(ctx context.Context, alias string) (*Certificate, error) {
	var resp protocol.GetCertificateResponse
	if err := c.roundTrip(ctx, protocol.OpGetCertificate, &protocol.GetCertificateRequest{Alias: alias}, &resp); err != nil {
		return nil, err
	}
	return certFromWire(&resp.Certificate), nil
}

// DeleteCertificate removes the certificate stored for the key alias; the
// key stays.
func (c *Client) DeleteCertificate(ctx context.Context, alias string) error {
	var resp protocol.DeleteCertificateResponse
	return c.roundTrip(ctx, protocol.OpDeleteCertificate, &protocol.DeleteCertificateRequest{Alias: alias}, &resp)
}

// Certificates iterates over the caller's certificates, page by page; it
// stops at the first error, which it yields with a nil certificate.
func (c *Client) Certificates(ctx context.Context) iter.Seq2[*Certificate, error] {
	return func(yield func(*Certificate, error) bool) {
		cursor := ""
		for {
			var resp protocol.ListCertificatesResponse
			if err := c.roundTrip(ctx, protocol.OpListCertificates, &protocol.ListCertificatesRequest{Cursor: cursor}, &resp); err != nil {
				yield(nil, fmt.Errorf("ListCertificates: %w", err))
				return
			}
			for i := range resp.Certificates {
				if !yield(certFromWire(&resp.Certificates[i]), nil) {
					return
				}
			}
			if resp.NextCursor == "" {
				return
			}
			cursor = resp.NextCursor
		}
	}
}
