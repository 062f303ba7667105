package client

import (
	"context"
	"fmt"
	"io"
)

var _ dataKeys = (*Client)(nil)

// EncryptStream encrypts all of src to dst as a stream envelope
// (docs/FORMATS.md) under alias, an aes-256-gcm key, for data of any size:
// one GenerateDataKey, then AES-256-GCM segments of 64 KiB made here, with
// the data key wiped once the segment key is derived. encCtx is the
// encryption context (not secret); the same must be given to decrypt. It
// returns the plaintext bytes read, and accepts WithPIN. Cancelling ctx
// stops the copy too (the stream is then incomplete).
func (c *Client) EncryptStream(ctx context.Context, alias string, encCtx map[string]string, dst io.Writer, src io.Reader, opts ...CallOption) (int64, error) {
	return encryptStream(ctx, c, alias, encCtx, dst, src, opts...)
}

// DecryptStream decrypts a stream envelope from src to dst. The key is
// found from the stream's header. Each segment's plaintext is written only
// after its tag verified, but the stream as a whole is authentic only when
// DecryptStream returns nil: on an error, what dst received may be a
// prefix of the plaintext (cut by an attacker), so discard it, as tpmkey
// decrypt does. A stream that does not authenticate (a wrong context, an
// altered, cut or extended stream) is ErrDecryptFailed, wrapping the error
// of package client/stream that says which (stream.ErrTruncated, ...). It
// accepts WithPIN and ForUID, as AEADDecrypt does.
func (c *Client) DecryptStream(ctx context.Context, encCtx map[string]string, dst io.Writer, src io.Reader, opts ...CallOption) (int64, error) {
	return decryptStream(ctx, c, encCtx, dst, src, opts...)
}

// NewEncryptWriter is EncryptStream as an io.WriteCloser: it writes the
// header to dst at once, and Close writes the final segment (without
// Close the stream is truncated and will not decrypt). It does not close
// dst.
func (c *Client) NewEncryptWriter(ctx context.Context, alias string, encCtx map[string]string, dst io.Writer, opts ...CallOption) (io.WriteCloser, error) {
	w, err := newEncryptWriter(ctx, c, alias, encCtx, dst, opts...)
	if err != nil {
		return nil, fmt.Errorf("client.NewEncryptWriter: %w", err)
	}
	return w, nil
}

// NewDecryptReader is DecryptStream as an io.Reader: it reads the header
// and unwraps the data key before it returns. Read returns a segment's
// plaintext only after its tag verified, and io.EOF only after the final
// segment verified; see DecryptStream for what an error means for the
// bytes read before it.
func (c *Client) NewDecryptReader(ctx context.Context, encCtx map[string]string, src io.Reader, opts ...CallOption) (io.Reader, error) {
	r, err := newDecryptReader(ctx, c, encCtx, src, opts...)
	if err != nil {
		return nil, fmt.Errorf("client.NewDecryptReader: %w", streamFailure(err))
	}
	return r, nil
}
