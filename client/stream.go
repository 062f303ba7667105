package client

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/tpmkeyd/tpmkeyd/client/stream"
)

// dataKeys is what a stream envelope needs of the agent: a data key to
// encrypt with, and the unwrapping of a stream's data key.
type dataKeys interface {
	GenerateDataKey(ctx context.Context, alias string, n int, encCtx map[string]string, opts ...CallOption) (plaintext, ciphertext []byte, err error)
	AEADDecrypt(ctx context.Context, ciphertext []byte, encCtx map[string]string, opts ...CallOption) ([]byte, error)
}

// newEncryptWriter asks for one data key, writes a stream header to dst,
// and wipes the plaintext data key.
func newEncryptWriter(ctx context.Context, dk dataKeys, alias string, encCtx map[string]string, dst io.Writer, opts ...CallOption) (*stream.Writer, error) {
	key, wrapped, err := dk.GenerateDataKey(ctx, alias, stream.DataKeySize, encCtx, opts...)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return stream.NewWriter(dst, key, wrapped, encCtx, 0)
}

func encryptStream(ctx context.Context, dk dataKeys, alias string, encCtx map[string]string, dst io.Writer, src io.Reader, opts ...CallOption) (int64, error) {
	w, err := newEncryptWriter(ctx, dk, alias, encCtx, dst, opts...)
	if err != nil {
		return 0, fmt.Errorf("client.EncryptStream: %w", err)
	}
	buf := make([]byte, 32<<10) // plaintext passes through it: wiped after
	defer clear(buf)
	n, err := io.CopyBuffer(w, ctxReader{ctx, src}, buf)
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return n, fmt.Errorf("client.EncryptStream: %w", err)
	}
	return n, nil
}

// newDecryptReader reads the header from src, checks the context against
// its digest, has the agent unwrap the data key, and wipes it once the
// segment key is derived.
func newDecryptReader(ctx context.Context, dk dataKeys, encCtx map[string]string, src io.Reader, opts ...CallOption) (*stream.Reader, error) {
	h, err := stream.ReadHeader(src)
	if err != nil {
		return nil, err
	}
	if err := h.CheckContext(encCtx); err != nil {
		return nil, err
	}
	key, err := dk.AEADDecrypt(ctx, h.WrappedKey, encCtx, opts...)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	return stream.NewReader(src, h, key)
}

func decryptStream(ctx context.Context, dk dataKeys, encCtx map[string]string, dst io.Writer, src io.Reader, opts ...CallOption) (int64, error) {
	r, err := newDecryptReader(ctx, dk, encCtx, ctxReader{ctx, src}, opts...)
	if err != nil {
		return 0, fmt.Errorf("client.DecryptStream: %w", streamFailure(err))
	}
	n, err := r.WriteTo(dst)
	if err != nil {
		return n, fmt.Errorf("client.DecryptStream: %w", streamFailure(err))
	}
	return n, nil
}

// streamFailure makes a stream that does not authenticate also
// ErrDecryptFailed, the status the agent gives a ciphertext of its own
// that does not; the stream's own sentinel stays visible to errors.Is.
func streamFailure(err error) error {
	for _, s := range []error{stream.ErrContextMismatch, stream.ErrWrongKey, stream.ErrAuthFailed,
		stream.ErrTruncated, stream.ErrTrailingData} {
		if errors.Is(err, s) {
			return fmt.Errorf("%w: %w", ErrDecryptFailed, err)
		}
	}
	return err
}

// ctxReader stops a stream when its context is done: the agent is asked
// only once per stream, so without it a cancelled context (tpmkey's
// SIGINT) would not stop the copy of a large file.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
