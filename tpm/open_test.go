package tpm

import (
	"errors"
	"testing"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		name string
		spec string
		noRM bool
		want error
	}{
		{"resource-manager", "/dev/tpmrm0", false, nil},
		{"raw-device", "/dev/tpm0", true, nil},
		{"other-device-path", "/dev/nonexistent-tpm0", true, nil},
		{"swtpm-tcp", "swtpm:tcp://127.0.0.1:2321", true, nil},
		{"swtpm-unix", "swtpm:unix:///run/swtpm/sock", true, nil},
		{"simulator", "sim:", true, nil},
		{"relative-device", "dev/tpm0", false, ErrInvalid},
		{"empty", "", false, ErrInvalid},
		{"bogus", "bogus", false, ErrInvalid},
		{"tcp-no-port", "swtpm:tcp://127.0.0.1", false, ErrInvalid},
		{"tcp-last-port", "swtpm:tcp://127.0.0.1:65535", false, ErrInvalid},
		{"tcp-with-path", "swtpm:tcp://127.0.0.1:2321/x", false, ErrInvalid},
		{"unix-relative", "swtpm:unix://relative", false, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseSpec(tc.spec, Options{StateDir: t.TempDir()})
			if !errors.Is(err, tc.want) {
				t.Fatalf("ParseSpec(%q) = %v, want %v", tc.spec, err, tc.want)
			}
			if err != nil {
				return
			}
			if o.Name != tc.spec || o.NoRM != tc.noRM || o.Dial == nil {
				t.Errorf("ParseSpec(%q) = {Name %q NoRM %v Dial nil=%v}, want {Name %q NoRM %v Dial set}",
					tc.spec, o.Name, o.NoRM, o.Dial == nil, tc.spec, tc.noRM)
			}
		})
	}
}

func TestOpenRefusesIncompleteOpener(t *testing.T) {
	if _, err := Open(ctx(), Opener{Name: "no-dial"}, Options{StateDir: t.TempDir()}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Open(Opener without Dial) = %v, want ErrInvalid", err)
	}
}
