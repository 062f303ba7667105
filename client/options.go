package client

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultSocket is the socket Dial uses when it is given no path and
// $TPMKEY_SOCKET is empty.
const DefaultSocket = "/run/tpmkeyd/tpmkeyd.sock"

// SocketEnv names the environment variable that overrides DefaultSocket.
const SocketEnv = "TPMKEY_SOCKET"

// ServiceUser is the user the packaged tpmkeyd runs as (the .deb's unit has
// User=tpmkeyd). Dial trusts it, besides root, on a machine where it exists.
const ServiceUser = "tpmkeyd"

// Option configures Dial.
type Option func(*dialOptions) error

type dialOptions struct {
	trustedUIDs []uint32
	clientName  string
	// serviceUID finds ServiceUser's uid; nil is LookupUID(ServiceUser).
	// Tests replace it, as the host running them has no such user.
	serviceUID func() (uint32, error)
}

// trusts reports whether a socket set listening by uid may be the agent:
// root, the service user where it exists, or a uid the options named. The
// service user is looked up only when needed, so that a root-served socket
// costs no read of the user database.
func (o *dialOptions) trusts(uid uint32) bool {
	if uid == 0 || slices.Contains(o.trustedUIDs, uid) {
		return true
	}
	lookup := o.serviceUID
	if lookup == nil {
		lookup = func() (uint32, error) { return LookupUID(ServiceUser) }
	}
	svc, err := lookup()
	return err == nil && svc == uid
}

// WithServerUID accepts a server running as uid, besides root and
// ServiceUser. Use it when tpmkeyd runs as a user of another name.
func WithServerUID(uid uint32) Option {
	return func(o *dialOptions) error {
		o.trustedUIDs = append(o.trustedUIDs, uid)
		return nil
	}
}

// WithServerUser is WithServerUID for a user name (or a numeric uid), looked
// up when Dial runs.
func WithServerUser(name string) Option {
	return func(o *dialOptions) error {
		uid, err := LookupUID(name)
		if err != nil {
			return err
		}
		o.trustedUIDs = append(o.trustedUIDs, uid)
		return nil
	}
}

// WithTrustSameUser accepts a server running as the caller's own uid. It is
// meant for development (tpmkeyd --dev run by the same user): any process of
// that uid can already act as the caller, so trusting it adds no new attacker,
// but it is off by default so that a production client only ever talks to a
// system service.
func WithTrustSameUser() Option {
	return func(o *dialOptions) error {
		o.trustedUIDs = append(o.trustedUIDs, uint32(os.Getuid()))
		return nil
	}
}

// WithClientName sets the client name sent in Hello, which the agent may log.
func WithClientName(name string) Option {
	return func(o *dialOptions) error {
		o.clientName = name
		return nil
	}
}

// LookupUID resolves a user name, or a decimal uid, to a uid.
func LookupUID(name string) (uint32, error) {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(n), nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("user.Lookup: %w", err)
	}
	n, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("user %q has uid %q: %w", name, u.Uid, err)
	}
	return uint32(n), nil
}

// CallOption adjusts one call. Each method documents the options it
// accepts; an option it does not accept fails the call, before anything is
// sent, with an error that wraps ErrOptionNotApplicable and names the call
// and the option.
type CallOption func(*callOptions)

// callOpt is one kind of CallOption, a bit in callOptions.set.
type callOpt uint32

const (
	optPIN callOpt = 1 << iota
	optPSS
	optPKCS1v15
	optForUID
	optPurposes
	optPCRs
	optRotationPeriod
	optToPIN
	optBackupTo
)

// allCallOpts lists every option, in the order errors name them.
const allCallOpts = optPIN | optPSS | optPKCS1v15 | optForUID | optPurposes | optPCRs | optRotationPeriod | optToPIN | optBackupTo

func (b callOpt) String() string {
	switch b {
	case optPIN:
		return "WithPIN"
	case optPSS:
		return "WithPSS"
	case optPKCS1v15:
		return "WithPKCS1v15"
	case optForUID:
		return "ForUID"
	case optPurposes:
		return "WithPurposes"
	case optPCRs:
		return "WithPCRs"
	case optRotationPeriod:
		return "WithRotationPeriod"
	case optToPIN:
		return "WithToPIN"
	case optBackupTo:
		return "WithBackupTo"
	}
	return fmt.Sprintf("callOpt(%#x)", uint32(b))
}

type callOptions struct {
	set        callOpt // which options were given
	pin        []byte
	pss        bool
	pkcs1      bool
	uid        *uint32
	purposes   []string
	pcrs       []uint
	rotation   time.Duration
	toPIN      []byte
	backupTo   []byte
	exportable bool
}

// collect applies opts for the call named op, which accepts only the
// options in accepted.
func collect(op string, accepted callOpt, opts []CallOption) (callOptions, error) {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	if extra := o.set &^ accepted; extra != 0 {
		var names []string
		for b := callOpt(1); b != 0 && b <= allCallOpts; b <<= 1 {
			if extra&b != 0 {
				names = append(names, b.String())
			}
		}
		return o, fmt.Errorf("client.%s: %w: %s", op, ErrOptionNotApplicable, strings.Join(names, ", "))
	}
	return o, nil
}

// WithPIN authorises the use of a key created with a PIN (GenerateKey, Seal,
// Sign, Decrypt, ECDH, Unseal, Signer, Decrypter).
func WithPIN(pin []byte) CallOption {
	return func(o *callOptions) { o.set |= optPIN; o.pin = pin }
}

// WithPSS selects RSASSA-PSS, with a salt as long as the hash, instead of
// PKCS #1 v1.5 (Sign, Verify).
func WithPSS() CallOption { return func(o *callOptions) { o.set |= optPSS; o.pss = true } }

// WithPKCS1v15 selects PKCS #1 v1.5 padding instead of the default OAEP with
// SHA-256 (Decrypt, Encrypt).
func WithPKCS1v15() CallOption {
	return func(o *callOptions) { o.set |= optPKCS1v15; o.pkcs1 = true }
}

// ForUID names another uid's namespace. Only root or the agent's admin group
// may use it (Key, Keys, KeysPage, DeleteKey). The other operations act on
// the caller's own keys only, so they refuse it rather than quietly use the
// caller's key of the same alias.
func ForUID(uid uint32) CallOption {
	return func(o *callOptions) { o.set |= optForUID; o.uid = &uid }
}

// WithPurposes sets a new key's purposes; the default is sign (GenerateKey).
func WithPurposes(p ...Purpose) CallOption {
	return func(o *callOptions) {
		o.set |= optPurposes
		o.purposes = o.purposes[:0]
		for _, s := range p {
			o.purposes = append(o.purposes, string(s))
		}
	}
}

// WithPCRs binds a new key or sealed secret to the current values of these
// SHA-256 PCRs (GenerateKey, Seal).
func WithPCRs(pcrs ...uint) CallOption {
	return func(o *callOptions) { o.set |= optPCRs; o.pcrs = pcrs }
}
