package tpm

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/google/go-tpm/tpm2/transport"
)

// swtpmTCP speaks the Microsoft simulator's TCP framing that swtpm serves
// on its server port: TPM_SEND_COMMAND (u32 8), locality (u8), command
// length (u32) and the command; the reply is a length (u32), the response
// and a trailing u32 acknowledgement. It does what go-tpm's transport/tcp
// does, but sends each command in one write and reads through a buffer, so
// a command costs two syscalls instead of five. It never sends PowerOn:
// swtpm runs powered on and its control port speaks another protocol.
type swtpmTCP struct {
	mu   sync.Mutex // Send is called in the TPM's turn; this guards the buffers anyway
	cmd  net.Conn
	plat net.Conn // held open as transport/tcp does; never written
	br   *bufio.Reader
	wbuf []byte
}

var _ transport.TPMCloser = (*swtpmTCP)(nil)

const (
	msSendCommand   = 8
	maxResponseSize = 1 << 20 // transport/tcp's limit
)

var (
	errEmptyResponse = errors.New("TPM returned an empty response")
	errResponseSize  = errors.New("TPM response too big")
)

// openSwtpmTCP connects to swtpm's command and control ports, in that
// order, as transport/tcp.Open does.
func openSwtpmTCP(ctx context.Context, cmdAddr, platAddr string) (*swtpmTCP, error) {
	var d net.Dialer
	cmd, err := d.DialContext(ctx, "tcp", cmdAddr)
	if err != nil {
		return nil, fmt.Errorf("could not connect to command service at %q: %w", cmdAddr, err)
	}
	plat, err := d.DialContext(ctx, "tcp", platAddr)
	if err != nil {
		cmd.Close()
		return nil, fmt.Errorf("could not connect to platform service at %q: %w", platAddr, err)
	}
	return &swtpmTCP{cmd: cmd, plat: plat, br: bufio.NewReaderSize(cmd, 4096), wbuf: make([]byte, 0, 4096)}, nil
}

// Send writes cmd in one framed write and returns the response in a fresh
// slice (go-tpm may keep slices of it).
func (s *swtpmTCP) Send(cmd []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := binary.BigEndian.AppendUint32(s.wbuf[:0], msSendCommand)
	w = append(w, 0) // locality 0
	w = binary.BigEndian.AppendUint32(w, uint32(len(cmd)))
	w = append(w, cmd...)
	if cap(w) <= 64<<10 {
		s.wbuf = w
	}
	if _, err := s.cmd.Write(w); err != nil {
		return nil, fmt.Errorf("sending TPM command: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(s.br, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading TPM response length: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxResponseSize {
		return nil, fmt.Errorf("%w: %d bytes", errResponseSize, n)
	}
	rsp := make([]byte, n)
	if _, err := io.ReadFull(s.br, rsp); err != nil {
		return nil, fmt.Errorf("reading TPM response: %w", err)
	}
	// The acknowledgement; like transport/tcp, only its arrival matters.
	if _, err := io.ReadFull(s.br, hdr[:]); err != nil {
		return nil, fmt.Errorf("reading TPM response trailer: %w", err)
	}
	if n == 0 {
		return nil, errEmptyResponse
	}
	return rsp, nil
}

// Close closes both connections.
func (s *swtpmTCP) Close() error {
	return errors.Join(s.cmd.Close(), s.plat.Close())
}
