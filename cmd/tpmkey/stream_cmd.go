package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/client/stream"
	"github.com/tpmkeyd/tpmkeyd/protocol/aeadfmt"
)

// codeDecryptFailed is the local code of a stream that does not
// authenticate, the name of the agent's status for the same failure.
const codeDecryptFailed = "DECRYPT_FAILED"

// contextFlag collects --context k=v pairs.
type contextFlag struct{ pairs []string }

func (f *contextFlag) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&f.pairs, "context", nil, "aes-256-gcm: an encryption context pair k=v (repeat for more; the same pairs are needed to decrypt; not secret)")
}

// parse returns the context as a map; nil when no pair was given.
func (f *contextFlag) parse() (map[string]string, error) { return parseContext("context", f.pairs) }

// streamResultJSON is what --json prints for a stream encrypt or decrypt.
type streamResultJSON struct {
	Format         string `json:"format"`
	Out            string `json:"out"`
	PlaintextBytes int64  `json:"plaintext_bytes"`
}

// toFile runs write into the output file (atomically: a failure leaves
// no file, and an existing one as it was) or standard output.
func (c *cli) toFile(out string, write func(w io.Writer) error) error {
	if out == "" || out == "-" {
		if c.json {
			return usagef("--json prints a summary: give the data an --out file")
		}
		return write(c.out)
	}
	var werr error
	// Unbuffered: the stream is written in whole segments already, and a
	// buffer would keep a copy of the plaintext that nothing wipes.
	err := writeFileAtomicWith(out, func(w io.Writer) error {
		werr = write(w)
		return werr
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return local(codeIO, err)
	}
	return nil
}

func (c *cli) printStreamResult(out string, n int64) error {
	if !c.json {
		return nil
	}
	return writeJSON(c.out, streamResultJSON{Format: "tpmkeyd-stream-v1", Out: out, PlaintextBytes: n})
}

// streamEncrypt encrypts --in to --out as a stream envelope under alias.
func (c *cli) streamEncrypt(ctx context.Context, cl *client.Client, alias string, cf *cipherFlags, encCtx map[string]string, pin []byte) error {
	in, err := c.openInput(cf.in)
	if err != nil {
		return err
	}
	defer in.Close()
	var n int64
	err = c.toFile(cf.out, func(w io.Writer) error {
		var err error
		n, err = cl.EncryptStream(ctx, alias, encCtx, w, in, pinOptions(pin)...)
		return streamErr(err, cf.in)
	})
	if err != nil {
		return err
	}
	return c.printStreamResult(cf.out, n)
}

// streamDecrypt decrypts a stream envelope from in (already opened; its
// header is where the key is found).
func (c *cli) streamDecrypt(ctx context.Context, cl *client.Client, in io.Reader, cf *cipherFlags, encCtx map[string]string, pin []byte) error {
	var n int64
	err := c.toFile(cf.out, func(w io.Writer) error {
		var err error
		n, err = cl.DecryptStream(ctx, encCtx, w, in, pinOptions(pin)...)
		return streamErr(err, cf.in)
	})
	if err != nil {
		return err
	}
	return c.printStreamResult(cf.out, n)
}

// streamErr gives a stream's failure its code: the agent's errors as they
// are, a stream that does not authenticate DECRYPT_FAILED, one that is no
// stream BAD_INPUT, the rest IO_ERROR.
func streamErr(err error, in string) error {
	var se *client.Error
	switch {
	case err == nil, errors.As(err, &se), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, stream.ErrNotStream), errors.Is(err, stream.ErrUnsupportedVersion), errors.Is(err, stream.ErrBadHeader):
		return local(codeBadInput, fmt.Errorf("%s: %w", displayName(in), err))
	case errors.Is(err, stream.ErrContextMismatch), errors.Is(err, stream.ErrWrongKey), errors.Is(err, stream.ErrAuthFailed),
		errors.Is(err, stream.ErrTruncated), errors.Is(err, stream.ErrTrailingData), errors.Is(err, stream.ErrTooLong):
		return local(codeDecryptFailed, fmt.Errorf("%s: %w", displayName(in), err))
	}
	return local(codeIO, err)
}

// isStream reports whether r starts with the stream magic, without
// consuming it.
func isStream(r *bufio.Reader) bool {
	b, _ := r.Peek(len(stream.Magic))
	return string(b) == stream.Magic
}

// checkStreamKey refuses a stream whose data key was wrapped by another key
// than k, the key named on the command line. It reads the header's wrapped
// key (an AEAD ciphertext, which names its key) without consuming it.
func checkStreamKey(r *bufio.Reader, k *client.Key, in string) error {
	if !isStream(r) {
		return local(codeBadInput, fmt.Errorf("%s is not a stream made by tpmkey encrypt", displayName(in)))
	}
	const fixed = stream.FixedHeaderSize
	b, err := r.Peek(fixed)
	if err != nil {
		return streamErr(stream.ErrBadHeader, in)
	}
	n := int(binary.BigEndian.Uint32(b[fixed-4:]))
	if n == 0 || n > stream.MaxWrappedKey {
		return streamErr(stream.ErrBadHeader, in)
	}
	if b, err = r.Peek(fixed + n); err != nil {
		return streamErr(stream.ErrBadHeader, in)
	}
	h, err := aeadfmt.ParseHeader(b[fixed:])
	if err != nil {
		return streamErr(stream.ErrBadHeader, in)
	}
	if !bytes.Equal(h.KeyID[:], k.ID) {
		return local(codeDecryptFailed, fmt.Errorf("%s was not encrypted with key %s", displayName(in), k.Alias))
	}
	return nil
}

// streamReencrypt moves a stream envelope to the key to: the stream is
// decrypted and encrypted again in this process, a segment at a time (a
// stream's data key is bound into every segment, so it cannot be rewrapped
// alone), with a new data key under to. The output file appears only if
// the whole source stream verified.
func (c *cli) streamReencrypt(ctx context.Context, cl *client.Client, src io.Reader, in, out string,
	fromCtx map[string]string, to string, toCtx map[string]string, pin, toPIN []byte) error {
	var n int64
	err := c.toFile(out, func(w io.Writer) error {
		pr, pw := io.Pipe()
		decErr := make(chan error, 1)
		go func() {
			_, err := cl.DecryptStream(ctx, fromCtx, pw, src, pinOptions(pin)...)
			pw.CloseWithError(err) // nil: the reader sees io.EOF
			decErr <- err
		}()
		var err error
		n, err = cl.EncryptStream(ctx, to, toCtx, w, pr, pinOptions(toPIN)...)
		pr.CloseWithError(err) // unblocks the decryption if encryption stopped first
		if derr := <-decErr; derr != nil {
			return streamErr(derr, in)
		}
		return streamErr(err, in)
	})
	if err != nil {
		return err
	}
	return c.printStreamResult(out, n)
}
