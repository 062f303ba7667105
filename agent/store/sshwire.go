package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A destination constraint is stored as OpenSSH encodes one inside
// restrict-destination-v00@openssh.com (PROTOCOL.agent): string from-hop,
// string to-hop, string reserved; a hop is string user, string host,
// string reserved, then (string key, byte is-ca) until its end.

var errDestinationWire = errors.New("ssh destination: bad encoding")

func marshalDestination(d SSHDestination) []byte {
	var b []byte
	b = appendWireString(b, marshalHop(d.From))
	b = appendWireString(b, marshalHop(d.To))
	return appendWireString(b, nil)
}

func marshalHop(h SSHHop) []byte {
	var b []byte
	b = appendWireString(b, []byte(h.User))
	b = appendWireString(b, []byte(h.Host))
	b = appendWireString(b, nil)
	for _, k := range h.Keys {
		b = appendWireString(b, k.Key)
		if k.CA {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

func unmarshalDestination(b []byte) (SSHDestination, error) {
	var d SSHDestination
	from, b, ok1 := readWireString(b)
	to, b, ok2 := readWireString(b)
	reserved, b, ok3 := readWireString(b)
	if !ok1 || !ok2 || !ok3 || len(reserved) != 0 || len(b) != 0 {
		return d, fmt.Errorf("%w: %w", ErrInvalidRecord, errDestinationWire)
	}
	var err error
	if d.From, err = unmarshalHop(from); err != nil {
		return d, err
	}
	if d.To, err = unmarshalHop(to); err != nil {
		return d, err
	}
	return d, nil
}

func unmarshalHop(b []byte) (SSHHop, error) {
	var h SSHHop
	user, b, ok1 := readWireString(b)
	host, b, ok2 := readWireString(b)
	reserved, b, ok3 := readWireString(b)
	if !ok1 || !ok2 || !ok3 || len(reserved) != 0 {
		return h, fmt.Errorf("%w: %w", ErrInvalidRecord, errDestinationWire)
	}
	h.User, h.Host = string(user), string(host)
	for len(b) > 0 {
		key, rest, ok := readWireString(b)
		if !ok || len(rest) < 1 || rest[0] > 1 || len(h.Keys) >= MaxSSHHopKeys {
			return h, fmt.Errorf("%w: %w", ErrInvalidRecord, errDestinationWire)
		}
		h.Keys = append(h.Keys, SSHHostKey{Key: append([]byte(nil), key...), CA: rest[0] == 1})
		b = rest[1:]
	}
	return h, nil
}

func appendWireString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// readWireString returns the string at the start of b and what follows it.
func readWireString(b []byte) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}
