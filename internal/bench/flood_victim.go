package bench

import (
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
)

// The victim's keys: an ECDSA P-256 key without a PIN, whose signing is
// timed, and one with a PIN, which must keep working whatever the flooder
// does to its own PIN key.
const (
	victimKey    = "victim-ec"
	victimPINKey = "victim-pin"
	victimPIN    = "victim-pin-2718"
)

// Victim pacing: a user who signs now and then, not a second flood. 5 ms
// between signs keeps the victim far below the rate limit and the TPM's
// capacity while giving thousands of samples a minute.
const (
	victimPace     = 5 * time.Millisecond
	victimPINEvery = 10                     // every 10th sign also signs with the PIN key
	victimDialPace = 500 * time.Millisecond // and a fresh connection this often
	victimTimeout  = 10 * time.Minute       // per call: a flood may make it wait long
)

// victim is the bench's own uid (root), with one long-lived connection.
type victim struct {
	socket string
	c      *client.Client
	digest []byte
}

func newVictim(ctx context.Context, socket string) (*victim, error) {
	d := sha256.Sum256([]byte("tpmkey-bench victim"))
	v := &victim{socket: socket, digest: d[:]}
	var err error
	if v.c, err = dial(ctx, socket); err != nil {
		return nil, err
	}
	if _, err := v.c.GenerateKey(ctx, victimKey, client.AlgECP256); err != nil {
		v.close()
		return nil, fmt.Errorf("bench: victim GenerateKey: %w", err)
	}
	if _, err := v.c.GenerateKey(ctx, victimPINKey, client.AlgECP256, client.WithPIN([]byte(victimPIN))); err != nil {
		v.close()
		return nil, fmt.Errorf("bench: victim GenerateKey with PIN: %w", err)
	}
	for range 3 { // warm the key cache
		if err := v.sign(ctx); err != nil {
			v.close()
			return nil, fmt.Errorf("bench: victim warm-up: %w", err)
		}
	}
	if err := v.pinSign(ctx); err != nil {
		v.close()
		return nil, fmt.Errorf("bench: victim warm-up with PIN: %w", err)
	}
	return v, nil
}

func (v *victim) close() { v.c.Close() }

func (v *victim) sign(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, victimTimeout)
	defer cancel()
	_, err := v.c.Sign(ctx, victimKey, crypto.SHA256, v.digest)
	return err
}

func (v *victim) pinSign(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, victimTimeout)
	defer cancel()
	_, err := v.c.Sign(ctx, victimPINKey, crypto.SHA256, v.digest, client.WithPIN([]byte(victimPIN)))
	return err
}

// VictimResult is what the victim saw during one scenario. Its failures
// are results, not errors of the bench.
type VictimResult struct {
	// Signs counts the successful signs, with and without the PIN; the
	// latencies are over all of them.
	Signs      int     `json:"signs"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	SignErrors int     `json:"sign_errors"`
	SignError  string  `json:"first_sign_error,omitempty"`
	// PINSigns are signs with the victim's PIN key and its right PIN,
	// during the flood; PINErrors of them failed.
	PINSigns  int    `json:"pin_signs"`
	PINErrors int    `json:"pin_errors"`
	PINError  string `json:"first_pin_error,omitempty"`
	// PINAfterOK: the PIN key signed once more after the flood ended.
	PINAfterOK    bool   `json:"pin_after_ok"`
	PINAfterError string `json:"pin_after_error,omitempty"`
	// Dials are fresh connections (connect + Hello) during the flood.
	Dials      int    `json:"dials"`
	DialErrors int    `json:"dial_errors"`
	DialError  string `json:"first_dial_error,omitempty"`
}

// victimRun is the victim at work in one scenario.
type victimRun struct {
	quit chan struct{}
	wg   sync.WaitGroup
	lat  []time.Duration // written by the sign loop only; read after wg.Wait
	res  VictimResult    // sign fields by the sign loop, dial fields by the dial loop; read after wg.Wait
}

// start begins signing (paced) and dialling until stop.
func (v *victim) start(ctx context.Context) *victimRun {
	r := &victimRun{quit: make(chan struct{})}
	r.wg.Go(func() { v.signLoop(ctx, r) })
	r.wg.Go(func() { v.dialLoop(ctx, r) })
	return r
}

func (v *victim) signLoop(ctx context.Context, r *victimRun) {
	for n := 0; ; n++ {
		t0 := time.Now()
		if err := v.sign(ctx); err != nil {
			r.res.SignErrors++
			if r.res.SignError == "" {
				r.res.SignError = err.Error()
			}
		} else {
			r.lat = append(r.lat, time.Since(t0))
		}
		if n%victimPINEvery == 0 {
			r.res.PINSigns++
			t1 := time.Now()
			if err := v.pinSign(ctx); err != nil {
				r.res.PINErrors++
				if r.res.PINError == "" {
					r.res.PINError = err.Error()
				}
			} else {
				r.lat = append(r.lat, time.Since(t1))
			}
		}
		if !r.pause(ctx, victimPace-time.Since(t0)) {
			return
		}
	}
}

func (v *victim) dialLoop(ctx context.Context, r *victimRun) {
	for {
		r.res.Dials++
		c, err := dial(ctx, v.socket)
		if err != nil {
			r.res.DialErrors++
			if r.res.DialError == "" {
				r.res.DialError = err.Error()
			}
		} else {
			c.Close()
		}
		if !r.pause(ctx, victimDialPace) {
			return
		}
	}
}

// pause waits d (or not at all), and reports false once stop was called.
func (r *victimRun) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-r.quit:
		return false
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// stop ends the loops after their current call and summarises.
func (r *victimRun) stop() VictimResult {
	close(r.quit)
	r.wg.Wait()
	lat := slices.Clone(r.lat)
	slices.Sort(lat)
	r.res.Signs = len(lat)
	r.res.P50ms = ms(percentile(lat, 0.50))
	r.res.P99ms = ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		r.res.MaxMs = ms(lat[len(lat)-1])
	}
	return r.res
}
