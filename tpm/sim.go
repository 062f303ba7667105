//go:build simulator

package tpm

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2/transport"
)

const simSeedFile = "sim.seed"

// openSimulator starts go-tpm-tools' in-process simulator with the seed
// kept in stateDir, so the SRK and keys survive a restart in dev mode.
// INSECURE: for development only.
func openSimulator(_ context.Context, stateDir string) (transport.TPMCloser, error) {
	seed, err := simSeed(stateDir)
	if err != nil {
		return nil, err
	}
	sim, err := simulator.GetWithFixedSeedInsecure(seed)
	if err != nil {
		return nil, fmt.Errorf("simulator.GetWithFixedSeedInsecure: %w", err)
	}
	return transport.FromReadWriteCloser(sim), nil
}

func simSeed(stateDir string) (int64, error) {
	path := filepath.Join(stateDir, simSeedFile)
	b, err := os.ReadFile(path)
	if err == nil {
		seed, perr := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if perr != nil {
			return 0, fmt.Errorf("simulator seed %s is corrupt: %w", path, perr)
		}
		return seed, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("simulator seed: %w", err)
	}
	var buf [8]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return 0, err
	}
	seed := int64(binary.BigEndian.Uint64(buf[:]) >> 1)
	if err := writeFileAtomic(path, []byte(strconv.FormatInt(seed, 10)+"\n")); err != nil {
		return 0, err
	}
	return seed, nil
}
