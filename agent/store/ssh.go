package store

import (
	"fmt"
	"time"
)

// SSHMarking is a key's offer to the ssh-agent front end (agent/sshagent):
// a key is listed to ssh clients only while it carries one. It is part of
// the record's body, so the record's MAC covers it.
type SSHMarking struct {
	Comment string // shown by ssh-add -l; "" means the alias
	// NotAfter ends the marking (ssh-add -t); zero: no end. Stored with
	// one-second precision, in UTC.
	NotAfter time.Time
	// Certificate is an OpenSSH certificate of the key (wire format), offered
	// next to it; nil: none.
	Certificate []byte
	// Destinations are the key's destination constraints (ssh-add -h):
	// when there are any, the ssh-agent front end lets the key sign only
	// on a connection whose session bindings follow one of them.
	Destinations []SSHDestination
	// Confirm: each signature is confirmed first by the daemon's
	// ssh_askpass program (ssh-add -c).
	Confirm bool
}

// SSHDestination is a permitted hop, from a host (no keys: the origin)
// to a host, as OpenSSH's restrict-destination-v00@openssh.com has it.
type SSHDestination struct {
	From, To SSHHop
}

// SSHHop is a host by its host keys; User (to only) is a user pattern.
type SSHHop struct {
	User, Host string
	Keys       []SSHHostKey
}

// SSHHostKey is a host key in SSH wire format, or a CA of host
// certificates.
type SSHHostKey struct {
	Key []byte
	CA  bool
}

// Expired reports whether the marking has ended at now.
func (m *SSHMarking) Expired(now time.Time) bool {
	return m != nil && !m.NotAfter.IsZero() && !now.Before(m.NotAfter)
}

// Limits of a marking, checked on encode and decode.
const (
	maxSSHComment     = 256
	maxSSHCertificate = 16 << 10
	// MaxSSHDestinations, MaxSSHHopKeys and MaxSSHDestinationBytes bound a
	// marking's destination constraints (OpenSSH allows more, but one
	// ssh-add -h is one destination with a host's few keys), so that a
	// record stays well inside its size limit.
	MaxSSHDestinations     = 32
	MaxSSHHopKeys          = 16
	MaxSSHDestinationBytes = 24 << 10
	maxSSHHopText          = 256
)

// sshBody is the record body's "ssh" map; absent when the key is not marked.
type sshBody struct {
	Comment     string `cbor:"comment,omitempty"`
	NotAfter    int64  `cbor:"not_after,omitempty"` // Unix seconds
	Certificate []byte `cbor:"certificate,omitempty"`
	// Destinations: absent when the key is unconstrained, so that a
	// record without constraints has the bytes it had before. Each is one
	// constraint in OpenSSH's wire encoding (sshwire.go), which keeps the
	// body within the codec's nesting limit.
	Destinations [][]byte `cbor:"destinations,omitempty"`
	Confirm      bool     `cbor:"confirm,omitempty"`
}

func sshBodyOf(r *Record) *sshBody {
	if r.SSH == nil {
		return nil
	}
	b := &sshBody{Comment: r.SSH.Comment, Certificate: r.SSH.Certificate, Confirm: r.SSH.Confirm}
	if !r.SSH.NotAfter.IsZero() {
		b.NotAfter = r.SSH.NotAfter.Unix()
	}
	for _, d := range r.SSH.Destinations {
		b.Destinations = append(b.Destinations, marshalDestination(d))
	}
	return b
}

func sshMarkingOf(b *sshBody) (*SSHMarking, error) {
	if b == nil {
		return nil, nil
	}
	m := &SSHMarking{Comment: b.Comment, Certificate: b.Certificate, Confirm: b.Confirm}
	if b.NotAfter != 0 {
		m.NotAfter = time.Unix(b.NotAfter, 0).UTC()
	}
	for _, raw := range b.Destinations {
		d, err := unmarshalDestination(raw)
		if err != nil {
			return nil, err
		}
		m.Destinations = append(m.Destinations, d)
	}
	return m, nil
}

// validateSSH checks a marking: only asymmetric keys are offered to ssh, and
// the comment and certificate are bounded.
func validateSSH(r *Record) error {
	m := r.SSH
	if m == nil {
		return nil
	}
	switch {
	case r.Kind() != KindKey:
		return fmt.Errorf("%w: a %s record marked for ssh", ErrInvalidRecord, r.Kind())
	case len(m.Comment) > maxSSHComment:
		return fmt.Errorf("%w: ssh comment of %d bytes exceeds %d", ErrInvalidRecord, len(m.Comment), maxSSHComment)
	case len(m.Certificate) > maxSSHCertificate:
		return fmt.Errorf("%w: ssh certificate of %d bytes exceeds %d", ErrInvalidRecord, len(m.Certificate), maxSSHCertificate)
	case !m.NotAfter.IsZero() && m.NotAfter.Unix() <= 0:
		return fmt.Errorf("%w: ssh not_after before 1970", ErrInvalidRecord)
	}
	return validateSSHDestinations(m.Destinations)
}

// validateSSHDestinations bounds the constraints; what they mean (keys
// that parse, a complete "to") is the core's to check when they are set.
func validateSSHDestinations(ds []SSHDestination) error {
	if len(ds) > MaxSSHDestinations {
		return fmt.Errorf("%w: %d ssh destinations exceed %d", ErrInvalidRecord, len(ds), MaxSSHDestinations)
	}
	size := 0
	for _, d := range ds {
		for _, h := range []SSHHop{d.From, d.To} {
			if len(h.Keys) > MaxSSHHopKeys {
				return fmt.Errorf("%w: %d host keys in an ssh destination exceed %d", ErrInvalidRecord, len(h.Keys), MaxSSHHopKeys)
			}
			if len(h.User) > maxSSHHopText || len(h.Host) > maxSSHHopText {
				return fmt.Errorf("%w: ssh destination user or host longer than %d bytes", ErrInvalidRecord, maxSSHHopText)
			}
			size += len(h.User) + len(h.Host)
			for _, k := range h.Keys {
				if len(k.Key) == 0 {
					return fmt.Errorf("%w: empty host key in an ssh destination", ErrInvalidRecord)
				}
				size += len(k.Key)
			}
		}
	}
	if size > MaxSSHDestinationBytes {
		return fmt.Errorf("%w: ssh destinations of %d bytes exceed %d", ErrInvalidRecord, size, MaxSSHDestinationBytes)
	}
	return nil
}

func cloneSSH(m *SSHMarking) *SSHMarking {
	if m == nil {
		return nil
	}
	c := *m
	c.Certificate = append([]byte(nil), m.Certificate...)
	if m.Certificate == nil {
		c.Certificate = nil
	}
	c.Destinations = nil
	for _, d := range m.Destinations {
		c.Destinations = append(c.Destinations, SSHDestination{From: cloneHop(d.From), To: cloneHop(d.To)})
	}
	c.NotAfter = m.NotAfter
	if !c.NotAfter.IsZero() {
		c.NotAfter = time.Unix(m.NotAfter.Unix(), 0).UTC()
	}
	return &c
}

func cloneHop(h SSHHop) SSHHop {
	c := SSHHop{User: h.User, Host: h.Host}
	for _, k := range h.Keys {
		c.Keys = append(c.Keys, SSHHostKey{Key: append([]byte(nil), k.Key...), CA: k.CA})
	}
	return c
}
