package sshagent

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/ssh"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// importKey imports a plaintext private key as alias through the core's
// ImportKey (TPM2_Import under the SRK; the plaintext is never stored),
// marshalled as PKCS #8 DER and wiped after. A key already stored under
// alias (the same key added again, or with its certificate) is used as it
// is, once its public key is checked; another key under alias is an error.
func (a *sshAgent) importKey(alias string, key any) error {
	defer wipeKey(key)
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return fmt.Errorf("ssh-add: %w", err)
	}
	resp, err := a.do(protocol.OpGetKey, &protocol.GetKeyRequest{Alias: alias})
	if err == nil {
		return samePublicKey(alias, resp.(*protocol.GetKeyResponse).Key.PublicKey, signer.PublicKey())
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Status != protocol.StatusKeyNotFound {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("ssh-add: x509.MarshalPKCS8PrivateKey: %w", err)
	}
	defer clear(der)
	_, err = a.do(protocol.OpImportKey, &protocol.ImportKeyRequest{Alias: alias, Key: der})
	return err
}

func samePublicKey(alias string, der []byte, want ssh.PublicKey) error {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return fmt.Errorf("ssh-add: key %q: %w", alias, err)
	}
	have, err := ssh.NewPublicKey(pub)
	if err != nil || !bytes.Equal(have.Marshal(), want.Marshal()) {
		return fmt.Errorf("ssh-add: alias %q holds another key", alias)
	}
	return nil
}

// wipeKey clears the private numbers of a parsed key, as far as math/big
// lets us (the words behind each big.Int).
func wipeKey(key any) {
	zero := func(ns ...*big.Int) {
		for _, n := range ns {
			if n != nil {
				clear(n.Bits())
			}
		}
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		zero(k.D, k.Precomputed.Dp, k.Precomputed.Dq, k.Precomputed.Qinv)
		zero(k.Primes...)
	case *ecdsa.PrivateKey:
		zero(k.D)
	}
}
