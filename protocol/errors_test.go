package protocol

import (
	"errors"
	"fmt"
	"testing"
)

func TestSentinels(t *testing.T) {
	for _, s := range Statuses() {
		if s == StatusOK {
			continue
		}
		t.Run(s.String(), func(t *testing.T) {
			sent := SentinelFor(s)
			if sent == nil {
				t.Fatalf("SentinelFor(%d) = nil, want a sentinel", s)
			}
			e := &Error{Status: s, Message: "m"}
			if !errors.Is(e, sent) {
				t.Errorf("errors.Is(&Error{%s}, SentinelFor(%s)) = false, want true", s, s)
			}
			if wrapped := fmt.Errorf("op: %w", e); !errors.Is(wrapped, sent) {
				t.Errorf("errors.Is(wrapped *Error, sentinel) = false, want true")
			}
			if got := StatusOf(fmt.Errorf("agent.Sign: %w", sent)); got != s {
				t.Errorf("StatusOf(wrapped %v) = %s, want %s", sent, got, s)
			}
			if got := StatusOf(e); got != s {
				t.Errorf("StatusOf(&Error{%s}) = %s, want %s", s, got, s)
			}
			if got, ok := ParseStatus(s.String()); !ok || got != s {
				t.Errorf("ParseStatus(%q) = %d, %v, want %d, true", s.String(), got, ok, s)
			}
			for _, other := range Statuses() {
				if other != s && other != StatusOK && errors.Is(e, SentinelFor(other)) {
					t.Errorf("errors.Is(&Error{%s}, SentinelFor(%s)) = true, want false", s, other)
				}
			}
		})
	}
}

func TestStatusNames(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{StatusOK, "OK"},
		{StatusKeyNotFound, "KEY_NOT_FOUND"},
		{StatusTPMChanged, "TPM_CHANGED"},
		{StatusInternal, "INTERNAL"},
		{Status(999), "STATUS_999"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.s.String(); got != tt.want {
				t.Errorf("Status(%d).String() = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
	if _, ok := ParseStatus("NOPE"); ok {
		t.Errorf("ParseStatus(NOPE) ok = true, want false")
	}
}

func TestOpNames(t *testing.T) {
	for o := Op(0); o < 64; o++ {
		name := o.String()
		got, ok := ParseOp(name)
		known := o.IsV1() || o.IsReserved()
		if ok != known || (ok && got != o) {
			t.Errorf("ParseOp(%q) = %d, %v, want %d, %v", name, got, ok, o, known)
		}
		if (NewRequest(o) != nil) != o.IsV1() || (NewResponse(o) != nil) != o.IsV1() {
			t.Errorf("NewRequest/NewResponse(%s) presence differs from IsV1 = %v", o, o.IsV1())
		}
	}
	if got := OpSign.String(); got != "Sign" {
		t.Errorf("OpSign.String() = %q, want %q", got, "Sign")
	}
	if got := len(V1Ops()); got != 32 {
		t.Errorf("len(V1Ops()) = %d, want 32", got)
	}
}

func TestCodecSentinels(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		target error
		want   Status
	}{
		{"empty-frame", ErrEmptyFrame, ErrBadRequest, StatusBadRequest},
		{"short-frame", fmt.Errorf("x: %w", ErrShortFrame), ErrBadRequest, StatusBadRequest},
		{"frame-too-large", fmt.Errorf("x: %w", ErrFrameTooLarge), ErrFrameTooLarge, StatusFrameTooLarge},
		{"plain-error", errors.New("disk on fire"), nil, StatusInternal},
		{"nil", nil, nil, StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := StatusOf(tt.err); got != tt.want {
				t.Errorf("StatusOf(%v) = %s, want %s", tt.err, got, tt.want)
			}
			if tt.target != nil && !errors.Is(tt.err, tt.target) {
				t.Errorf("errors.Is(%v, %v) = false, want true", tt.err, tt.target)
			}
		})
	}
}

func TestErrorFor(t *testing.T) {
	own := Errorf(StatusWrongPIN, "wrong PIN for %q", "web")
	tests := []struct {
		name string
		err  error
		want *Error
	}{
		{"nil", nil, nil},
		{"wrapped-error", fmt.Errorf("agent.Sign: %w", own), own},
		{"wrapped-sentinel", fmt.Errorf("store.Get: %w", ErrKeyNotFound),
			&Error{Status: StatusKeyNotFound, Message: "store.Get: protocol: key not found"}},
		{"foreign", errors.New("open /var/lib/x: permission denied"), &Error{Status: StatusInternal, Message: "internal error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ErrorFor(tt.err)
			if (got == nil) != (tt.want == nil) || (got != nil && (got.Status != tt.want.Status || got.Message != tt.want.Message)) {
				t.Errorf("ErrorFor(%v) = %+v, want %+v", tt.err, got, tt.want)
			}
		})
	}
}
