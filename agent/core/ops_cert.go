package core

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// certStore is the store's half of the certificate operations
// (agent/store/cert.go).
type certStore interface {
	PutCertificate(c *store.Certificate) error
	Certificate(uid uint32, alias string) (*store.Certificate, error)
	DeleteCertificate(uid uint32, alias string) error
	Certificates(uid uint32, cursor string, limit int) ([]*store.Certificate, string, error)
}

var errNoCertStore = errors.New("this store keeps no certificates")

// noCertificate is KEY_NOT_FOUND with a message that says what is missing.
func noCertificate(alias string) error {
	return protocol.Errorf(protocol.StatusKeyNotFound, "key %q has no certificate", alias)
}

func (c *Core) certs() (certStore, error) {
	cs, ok := c.store.(certStore)
	if !ok {
		return nil, errNoCertStore
	}
	return cs, nil
}

func certInfo(crt *store.Certificate) protocol.CertificateInfo {
	return protocol.CertificateInfo{Alias: crt.Alias, KeyID: crt.KeyID[:], Certificate: crt.DER, Created: crt.Created.Unix()}
}

// putCertificate stores a certificate for the key found by the lookup
// step, after checking that it is that key's.
func (c *Core) putCertificate(_ context.Context, call *Call, m *protocol.PutCertificateRequest) (*protocol.PutCertificateResponse, error) {
	cs, err := c.certs()
	if err != nil {
		return nil, err
	}
	rec := call.key
	cert, err := x509.ParseCertificate(m.Certificate)
	if err != nil {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "certificate: not DER X.509: %v", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil || len(rec.PublicDER) == 0 || !bytes.Equal(spki, rec.PublicDER) {
		return nil, protocol.Errorf(protocol.StatusBadRequest, "certificate is not for key %q: its public key differs", rec.Alias)
	}
	crt := &store.Certificate{Alias: rec.Alias, KeyID: rec.KeyID, OwnerUID: call.ns, Created: time.Now(), DER: m.Certificate}
	if err := cs.PutCertificate(crt); err != nil {
		return nil, fmt.Errorf("Store.PutCertificate: %w", err)
	}
	crt.Created = time.Unix(crt.Created.Unix(), 0)
	return &protocol.PutCertificateResponse{Certificate: certInfo(crt)}, nil
}

// certificateOf is the key's stored certificate; one stored for an
// earlier key of the same alias does not count.
func (c *Core) certificateOf(call *Call) (*store.Certificate, error) {
	cs, err := c.certs()
	if err != nil {
		return nil, err
	}
	crt, err := cs.Certificate(call.ns, call.key.Alias)
	if err == nil && crt.KeyID != call.key.KeyID {
		err = store.ErrCertificateNotFound
	}
	if errors.Is(err, store.ErrCertificateNotFound) {
		return nil, noCertificate(call.key.Alias)
	}
	if err != nil {
		return nil, fmt.Errorf("Store.Certificate: %w", err)
	}
	return crt, nil
}

func (c *Core) getCertificate(_ context.Context, call *Call, _ *protocol.GetCertificateRequest) (*protocol.GetCertificateResponse, error) {
	crt, err := c.certificateOf(call)
	if err != nil {
		return nil, err
	}
	return &protocol.GetCertificateResponse{Certificate: certInfo(crt)}, nil
}

func (c *Core) deleteCertificate(_ context.Context, call *Call, m *protocol.DeleteCertificateRequest) (*protocol.DeleteCertificateResponse, error) {
	cs, err := c.certs()
	if err != nil {
		return nil, err
	}
	err = cs.DeleteCertificate(call.ns, call.key.Alias)
	if errors.Is(err, store.ErrCertificateNotFound) {
		return nil, noCertificate(call.key.Alias)
	}
	if err != nil {
		return nil, fmt.Errorf("Store.DeleteCertificate: %w", err)
	}
	return &protocol.DeleteCertificateResponse{}, nil
}

// listCertificates lists the caller's own certificates.
func (c *Core) listCertificates(_ context.Context, call *Call, m *protocol.ListCertificatesRequest) (*protocol.ListCertificatesResponse, error) {
	cs, err := c.certs()
	if err != nil {
		return nil, err
	}
	call.ns, call.target = call.caller.UID, true
	limit := int(min(m.Limit, maxListLimit))
	crts, next, err := cs.Certificates(call.ns, m.Cursor, limit)
	if err != nil {
		return nil, fmt.Errorf("Store.Certificates: %w", err)
	}
	resp := &protocol.ListCertificatesResponse{Certificates: make([]protocol.CertificateInfo, len(crts)), NextCursor: next}
	for i, crt := range crts {
		resp.Certificates[i] = certInfo(crt)
	}
	return resp, nil
}
