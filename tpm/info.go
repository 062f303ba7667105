package tpm

import (
	"context"
	"crypto"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// readInfoLocked reads identity, algorithms and slots (TPM 2.0 Part 3,
// TPM2_GetCapability and TPM2_TestParms) once, at open.
func (t *TPM) readInfoLocked() error {
	tr := t.wire
	props := map[tpm2.TPMPT]uint32{}
	for _, pt := range []tpm2.TPMPT{tpm2.TPMPTManufacturer, tpm2.TPMPTFirmwareVersion1, tpm2.TPMPTFirmwareVersion2, tpm2.TPMPTHRTransientMin, tpm2.TPMPTInputBuffer} {
		v, err := getProperty(tr, pt)
		if err != nil {
			return err
		}
		props[pt] = v
	}
	algs, err := supportedAlgs(tr)
	if err != nil {
		return err
	}
	curves, err := supportedCurves(tr)
	if err != nil {
		return err
	}
	t.algs = map[Algorithm]bool{}
	ecdsaOK := algs[tpm2.TPMAlgECC] && algs[tpm2.TPMAlgECDSA] && algs[tpm2.TPMAlgECDH]
	t.algs[ECCP256] = ecdsaOK && curves[tpm2.TPMECCNistP256]
	t.algs[ECCP384] = ecdsaOK && curves[tpm2.TPMECCNistP384]
	rsaOK := algs[tpm2.TPMAlgRSA] && algs[tpm2.TPMAlgRSASSA] && algs[tpm2.TPMAlgOAEP]
	t.algs[RSA2048] = rsaOK && testRSA(tr, 2048)
	t.algs[RSA3072] = rsaOK && testRSA(tr, 3072)
	t.algs[Sealed] = algs[tpm2.TPMAlgKeyedHash]
	t.algs[HMACSHA256] = algs[tpm2.TPMAlgKeyedHash] && algs[tpm2.TPMAlgHMAC] && algs[tpm2.TPMAlgSHA256]
	t.hashes = map[crypto.Hash]bool{
		crypto.SHA1:   algs[tpm2.TPMAlgSHA1],
		crypto.SHA256: algs[tpm2.TPMAlgSHA256],
		crypto.SHA384: algs[tpm2.TPMAlgSHA384],
		crypto.SHA512: algs[tpm2.TPMAlgSHA512],
	}
	t.info = Info{
		Manufacturer: manufacturer(props[tpm2.TPMPTManufacturer]),
		Firmware:     firmware(props[tpm2.TPMPTFirmwareVersion1], props[tpm2.TPMPTFirmwareVersion2]),
		// One slot stays free: a persistent SRK is loaded into a slot
		// while it is used, and a transient one occupies one.
		Slots:       max(int(props[tpm2.TPMPTHRTransientMin])-1, 1),
		InputBuffer: inputBuffer(props[tpm2.TPMPTInputBuffer]),
	}
	for _, a := range allAlgorithms {
		if t.algs[a] {
			t.info.Algorithms = append(t.info.Algorithms, a)
		}
	}
	t.info.DA, err = readDAState(tr)
	return err
}

// The TPM_PT_PERMANENT .. TPM_PT_LOCKOUT_RECOVERY range, read in one
// TPM2_GetCapability; inLockout is bit 9 of TPMA_PERMANENT (Part 2 §8.6).
const (
	daFirstProperty = tpm2.TPMPTPermanent
	daPropertyCount = uint32(tpm2.TPMPTLockoutRecovery-tpm2.TPMPTPermanent) + 1
	permInLockout   = 1 << 9
)

// readDAState reads the dictionary-attack lockout properties.
func readDAState(tr transport.TPM) (DAState, error) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties,
		Property: uint32(daFirstProperty), PropertyCount: daPropertyCount}.Execute(tr)
	if err != nil {
		return DAState{}, fmt.Errorf("tpm2.GetCapability(lockout): %w", err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return DAState{}, fmt.Errorf("tpm2.GetCapability(lockout): %w", err)
	}
	var da DAState
	seen := 0
	for _, p := range props.TPMProperty {
		switch p.Property {
		case tpm2.TPMPTPermanent:
			da.InLockout = p.Value&permInLockout != 0
		case tpm2.TPMPTLockoutCounter:
			da.Counter = p.Value
		case tpm2.TPMPTMaxAuthFail:
			da.MaxTries = p.Value
		case tpm2.TPMPTLockoutInterval:
			da.Interval = time.Duration(p.Value) * time.Second
		case tpm2.TPMPTLockoutRecovery:
			da.Recovery = time.Duration(p.Value) * time.Second
		default:
			continue
		}
		seen++
	}
	if seen != 5 {
		return DAState{}, fmt.Errorf("tpm2.GetCapability(lockout): %w: %d of 5 properties", errMalformed, seen)
	}
	return da, nil
}

// DAState reads the TPM's dictionary-attack lockout state now. Info().DA
// is the same, as it was at Open.
func (t *TPM) DAState(ctx context.Context) (DAState, error) {
	var da DAState
	err := t.do(ctx, "tpm.DAState", func(tr transport.TPM) error {
		var err error
		da, err = readDAState(tr)
		return err
	})
	return da, err
}

func getProperty(tr transport.TPM, pt tpm2.TPMPT) (uint32, error) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(pt), PropertyCount: 1}.Execute(tr)
	if err != nil {
		return 0, fmt.Errorf("tpm2.GetCapability(%#x): %w", uint32(pt), err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil {
		return 0, fmt.Errorf("tpm2.GetCapability(%#x): %w", uint32(pt), err)
	}
	for _, p := range props.TPMProperty {
		if p.Property == pt {
			return p.Value, nil
		}
	}
	return 0, nil
}

func supportedAlgs(tr transport.TPM) (map[tpm2.TPMAlgID]bool, error) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapAlgs, Property: 0, PropertyCount: 128}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("tpm2.GetCapability(algs): %w", err)
	}
	l, err := rsp.CapabilityData.Data.Algorithms()
	if err != nil {
		return nil, fmt.Errorf("tpm2.GetCapability(algs): %w", err)
	}
	m := map[tpm2.TPMAlgID]bool{}
	for _, a := range l.AlgProperties {
		m[a.Alg] = true
	}
	return m, nil
}

func supportedCurves(tr transport.TPM) (map[tpm2.TPMECCCurve]bool, error) {
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapECCCurves, Property: 0, PropertyCount: 64}.Execute(tr)
	if err != nil {
		return nil, fmt.Errorf("tpm2.GetCapability(curves): %w", err)
	}
	l, err := rsp.CapabilityData.Data.ECCCurves()
	if err != nil {
		return nil, fmt.Errorf("tpm2.GetCapability(curves): %w", err)
	}
	m := map[tpm2.TPMECCCurve]bool{}
	for _, c := range l.ECCCurves {
		m[c] = true
	}
	return m, nil
}

// testRSA asks the TPM whether it can make RSA keys of this size.
func testRSA(tr transport.TPM, bits int) bool {
	_, err := tpm2.TestParms{Parameters: tpm2.TPMTPublicParms{
		Type: tpm2.TPMAlgRSA,
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgRSA, &tpm2.TPMSRSAParms{
			Symmetric: tpm2.TPMTSymDefObject{Algorithm: tpm2.TPMAlgNull},
			Scheme:    tpm2.TPMTRSAScheme{Scheme: tpm2.TPMAlgNull},
			KeyBits:   tpm2.TPMKeyBits(bits),
		}),
	}}.Execute(tr)
	return err == nil
}

// defaultInputBuffer is MAX_DIGEST_BUFFER in the reference implementation,
// used when a TPM reports no TPM_PT_INPUT_BUFFER or an implausible one
// (smaller than a DeriveKey label, which takes one TPM2_HMAC).
const defaultInputBuffer = 1024

func inputBuffer(v uint32) int {
	if v < MaxLabelSize || v > MaxMACData {
		return defaultInputBuffer
	}
	return int(v)
}

func manufacturer(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return strings.TrimRight(string(b[:]), "\x00 ")
}

func firmware(v1, v2 uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", v1>>16, v1&0xffff, v2>>16, v2&0xffff)
}

// Info returns the TPM's identity and capabilities, read at Open.
func (t *TPM) Info() Info {
	i := t.info
	i.Algorithms = slices.Clone(i.Algorithms)
	return i
}

// Supports reports whether the TPM can create keys of algorithm a.
func (t *TPM) Supports(a Algorithm) bool { return t.algs[a] }

// Random returns n bytes from the TPM's RNG.
func (t *TPM) Random(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > 1<<16 {
		return nil, fmt.Errorf("tpm.Random: %w: %d bytes", ErrInvalid, n)
	}
	out := make([]byte, 0, n)
	err := t.do(ctx, "tpm2.GetRandom", func(tr transport.TPM) error {
		for len(out) < n {
			rsp, err := tpm2.GetRandom{BytesRequested: uint16(min(n-len(out), 32))}.Execute(tr)
			if err != nil {
				return err
			}
			out = append(out, rsp.RandomBytes.Buffer...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
