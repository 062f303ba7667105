package stream

import "errors"

// Errors of this package. Every failure of a stream to decrypt wraps one of
// them; none of them says which byte was wrong.
var (
	// ErrNotStream means the input does not start with the stream magic.
	ErrNotStream = errors.New("stream: not a tpmkeyd stream (bad magic)")
	// ErrUnsupportedVersion means a format version this package does not
	// read.
	ErrUnsupportedVersion = errors.New("stream: unsupported format version")
	// ErrBadHeader means a header field is out of its range, or the header
	// is cut short.
	ErrBadHeader = errors.New("stream: malformed header")
	// ErrContextMismatch means the encryption context given for decryption
	// is not the one the stream was made with (the header's digest differs).
	ErrContextMismatch = errors.New("stream: wrong encryption context")
	// ErrWrongKey means the data key does not match the header's key
	// commitment.
	ErrWrongKey = errors.New("stream: data key does not match the stream")
	// ErrAuthFailed means a segment did not authenticate: it was altered,
	// moved, taken from another stream, or the header was altered.
	ErrAuthFailed = errors.New("stream: segment authentication failed")
	// ErrTruncated means the stream ends before its final segment.
	ErrTruncated = errors.New("stream: truncated (the final segment is missing)")
	// ErrTrailingData means bytes follow the final segment.
	ErrTrailingData = errors.New("stream: data after the final segment")
	// ErrTooLong means a stream beyond 2^32 segments.
	ErrTooLong = errors.New("stream: too many segments")
	// ErrClosed means a Write after Close.
	ErrClosed = errors.New("stream: writer closed")
)
