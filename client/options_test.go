package client

import (
	"context"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// TestCallOptionsNotApplicable tries every CallOption on every method. One
// a method does not accept fails it with ErrOptionNotApplicable, naming the
// call and the option, before any request is sent; one it accepts goes to
// the server (which refuses everything here).
func TestCallOptionsNotApplicable(t *testing.T) {
	var sent atomic.Int32
	s := startFake(t, func(fc *fakeConn, req fakeRequest) {
		sent.Add(1)
		fc.reply(req.hdr, protocol.Errorf(protocol.StatusInternal, "refused by the fake"))
	})
	c := dialFake(t, s)
	ctx := context.Background()
	peer, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)

	options := []struct {
		name string
		opt  CallOption
	}{
		{"WithPIN", WithPIN([]byte("1234"))},
		{"WithPSS", WithPSS()},
		{"WithPKCS1v15", WithPKCS1v15()},
		{"ForUID", ForUID(0)},
		{"WithPurposes", WithPurposes(PurposeSign)},
		{"WithPCRs", WithPCRs(7)},
	}
	methods := []struct {
		name    string
		accepts string // space-separated option names
		call    func(CallOption) error
	}{
		{"GenerateKey", "WithPurposes WithPIN WithPCRs", func(o CallOption) error {
			_, err := c.GenerateKey(ctx, "k", AlgECP256, o)
			return err
		}},
		{"Key", "ForUID", func(o CallOption) error { _, err := c.Key(ctx, "k", o); return err }},
		{"KeysPage", "ForUID", func(o CallOption) error { _, _, err := c.KeysPage(ctx, "", 0, o); return err }},
		{"Keys", "ForUID", func(o CallOption) error {
			for _, err := range c.Keys(ctx, o) {
				return err
			}
			return nil
		}},
		{"DeleteKey", "ForUID", func(o CallOption) error { return c.DeleteKey(ctx, "k", o) }},
		{"Sign", "WithPIN WithPSS", func(o CallOption) error {
			_, err := c.Sign(ctx, "k", crypto.SHA256, digest, o)
			return err
		}},
		{"Verify", "WithPSS", func(o CallOption) error {
			_, err := c.Verify(ctx, "k", crypto.SHA256, digest, []byte{1}, o)
			return err
		}},
		{"Decrypt", "WithPIN WithPKCS1v15", func(o CallOption) error {
			_, err := c.Decrypt(ctx, "k", []byte{1}, o)
			return err
		}},
		{"Encrypt", "WithPKCS1v15", func(o CallOption) error { _, err := c.Encrypt(ctx, "k", []byte{1}, o); return err }},
		{"ECDH", "WithPIN", func(o CallOption) error { _, err := c.ECDH(ctx, "k", peer.PublicKey(), o); return err }},
		{"Seal", "WithPIN WithPCRs", func(o CallOption) error { _, err := c.Seal(ctx, "k", []byte("s"), o); return err }},
		{"Unseal", "WithPIN", func(o CallOption) error { _, err := c.Unseal(ctx, "k", o); return err }},
		{"Signer", "WithPIN", func(o CallOption) error { _, err := c.Signer(ctx, "k", o); return err }},
		{"Decrypter", "WithPIN", func(o CallOption) error { _, err := c.Decrypter(ctx, "k", o); return err }},
	}
	for _, m := range methods {
		accepted := strings.Fields(m.accepts)
		for _, o := range options {
			t.Run(strings.ToLower(m.name+"-"+o.name), func(t *testing.T) {
				before := sent.Load()
				err := m.call(o.opt)
				if slices.Contains(accepted, o.name) {
					if errors.Is(err, ErrOptionNotApplicable) {
						t.Errorf("%s(%s) = %v, want the option accepted", m.name, o.name, err)
					}
					if sent.Load() == before {
						t.Errorf("%s(%s) sent no request, want one", m.name, o.name)
					}
					return
				}
				if !errors.Is(err, ErrOptionNotApplicable) {
					t.Fatalf("%s(%s) = %v, want ErrOptionNotApplicable", m.name, o.name, err)
				}
				want := "client." + m.name + ": " + ErrOptionNotApplicable.Error() + ": " + o.name
				if err.Error() != want {
					t.Errorf("%s(%s) error = %q, want %q", m.name, o.name, err, want)
				}
				if n := sent.Load() - before; n != 0 {
					t.Errorf("%s(%s) sent %d requests, want none", m.name, o.name, n)
				}
			})
		}
	}
}

// TestCallOptionsNamesEveryRefusedOption: several refused options are all
// named, in a fixed order.
func TestCallOptionsNamesEveryRefusedOption(t *testing.T) {
	_, err := collect("Sign", optPIN|optPSS, []CallOption{WithPCRs(1), WithPIN(nil), ForUID(3)})
	want := "client.Sign: " + ErrOptionNotApplicable.Error() + ": ForUID, WithPCRs"
	if err == nil || err.Error() != want {
		t.Errorf("collect(Sign, WithPCRs, WithPIN, ForUID) = %v, want %q", err, want)
	}
}
