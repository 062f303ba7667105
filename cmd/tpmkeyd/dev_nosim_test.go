//go:build !simulator

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDevModeNeedsSimulator: a release build answers --dev with one clear
// error that says how to get the simulator.
func TestDevModeNeedsSimulator(t *testing.T) {
	t.Chdir(t.TempDir())
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--dev"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "-tags simulator") {
		t.Errorf("run(--dev) = %v, want an error naming -tags simulator", err)
	}
}
