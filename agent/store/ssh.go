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
}

// Expired reports whether the marking has ended at now.
func (m *SSHMarking) Expired(now time.Time) bool {
	return m != nil && !m.NotAfter.IsZero() && !now.Before(m.NotAfter)
}

// Limits of a marking, checked on encode and decode.
const (
	maxSSHComment     = 256
	maxSSHCertificate = 16 << 10
)

// sshBody is the record body's "ssh" map; absent when the key is not marked.
type sshBody struct {
	Comment     string `cbor:"comment,omitempty"`
	NotAfter    int64  `cbor:"not_after,omitempty"` // Unix seconds
	Certificate []byte `cbor:"certificate,omitempty"`
}

func sshBodyOf(r *Record) *sshBody {
	if r.SSH == nil {
		return nil
	}
	b := &sshBody{Comment: r.SSH.Comment, Certificate: r.SSH.Certificate}
	if !r.SSH.NotAfter.IsZero() {
		b.NotAfter = r.SSH.NotAfter.Unix()
	}
	return b
}

func sshMarkingOf(b *sshBody) *SSHMarking {
	if b == nil {
		return nil
	}
	m := &SSHMarking{Comment: b.Comment, Certificate: b.Certificate}
	if b.NotAfter != 0 {
		m.NotAfter = time.Unix(b.NotAfter, 0).UTC()
	}
	return m
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
	c.NotAfter = m.NotAfter
	if !c.NotAfter.IsZero() {
		c.NotAfter = time.Unix(m.NotAfter.Unix(), 0).UTC()
	}
	return &c
}
