package bench

import (
	"context"
	"crypto"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tpmkeyd/tpmkeyd/agent/store"
	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/tpm"
)

// ScaleResult is the daemon with Keys stored records.
type ScaleResult struct {
	Keys int `json:"keys"`
	// PopulateSec is how long writing the records took (setup, not a target).
	PopulateSec float64 `json:"populate_sec"`
	// ReadyMs is exec to READY=1 on NOTIFY_SOCKET.
	ReadyMs float64 `json:"ready_ms"`
	// DialMs is connect plus Hello of the first client.
	DialMs float64 `json:"dial_ms"`
	// FirstSignMs is the first Sign of an existing key after READY.
	FirstSignMs  float64 `json:"first_sign_ms"`
	ListMs       float64 `json:"list_ms"`
	ListPages    int     `json:"list_pages"`
	MemIdle      Memory  `json:"mem_idle"`
	MemAfterList Memory  `json:"mem_after_list"`
}

const seedAlias = "seed"

// scaler runs the scale part on one state directory, growing the store.
type scaler struct {
	tpmSpec  string
	stateDir string
	start    func(ctx context.Context) (*daemonProc, error)
	log      *slog.Logger
	pageSize uint
	stored   int
}

// seed starts the daemon once on the empty state dir (creating its integrity
// key and SRK pin) and generates the one real key every record will copy.
func (s *scaler) seed(ctx context.Context) error {
	d, err := s.start(ctx)
	if err != nil {
		return err
	}
	c, err := dial(ctx, d.cfg.socket)
	if err == nil {
		_, err = c.GenerateKey(ctx, seedAlias, client.AlgECP256)
		c.Close()
	}
	if serr := d.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("bench: seed key: %w", err)
	}
	s.stored = 1
	return nil
}

// measure grows the store to keys records (at least the seed), then starts
// the daemon and measures it.
func (s *scaler) measure(ctx context.Context, keys int) (ScaleResult, error) {
	res := ScaleResult{Keys: max(keys, 1)}
	t0 := time.Now()
	if err := s.populate(ctx, res.Keys); err != nil {
		return res, err
	}
	res.PopulateSec = time.Since(t0).Seconds()
	d, err := s.start(ctx)
	if err != nil {
		return res, err
	}
	err = s.probe(ctx, d, &res)
	if serr := d.stop(); err == nil {
		err = serr
	}
	return res, err
}

// probe times the first client, the first sign and the listing.
func (s *scaler) probe(ctx context.Context, d *daemonProc, res *ScaleResult) error {
	res.ReadyMs = ms(d.ready)
	t0 := time.Now()
	c, err := dial(ctx, d.cfg.socket)
	if err != nil {
		return err
	}
	defer c.Close()
	res.DialMs = ms(time.Since(t0))
	digest := make([]byte, 32)
	t0 = time.Now()
	if _, err := c.Sign(ctx, seedAlias, crypto.SHA256, digest); err != nil {
		return fmt.Errorf("bench: first sign: %w", err)
	}
	res.FirstSignMs = ms(time.Since(t0))
	if res.MemIdle, err = d.memory(); err != nil {
		return err
	}
	t0 = time.Now()
	listed, cursor := 0, ""
	for {
		page, next, err := c.KeysPage(ctx, cursor, s.pageSize)
		if err != nil {
			return fmt.Errorf("bench: list page %d: %w", res.ListPages+1, err)
		}
		res.ListPages++
		listed += len(page)
		if cursor = next; cursor == "" {
			break
		}
	}
	res.ListMs = ms(time.Since(t0))
	if listed != res.Keys {
		return fmt.Errorf("%w: listed %d keys, stored %d", ErrBadCount, listed, res.Keys)
	}
	res.MemAfterList, err = d.memory()
	return err
}

// populate adds copies of the seed record, under new aliases and key ids,
// until the store holds keys records. All copies share the seed's TPM blob:
// creating 100,000 real TPM keys would take hours, and the daemon loads a
// blob only when it is used. The daemon must be stopped (swtpm serves one
// client, and the store assumes a single writer).
func (s *scaler) populate(ctx context.Context, keys int) error {
	if keys <= s.stored {
		return nil
	}
	macKey, err := s.integrityKey(ctx)
	if err != nil {
		return err
	}
	defer clear(macKey)
	seed, err := s.seedRecord(macKey)
	if err != nil {
		return err
	}
	// Each worker opens its own Store on the same directory: a Store
	// serialises Creates of one uid, and every Create fsyncs twice.
	const workers = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range workers {
		wg.Go(func() {
			if err := s.createRange(macKey, seed, s.stored+w, keys, workers); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	s.stored = keys
	return nil
}

// createRange creates the records numbered from, from+step, ... below to.
func (s *scaler) createRange(macKey []byte, seed *store.Record, from, to, step int) error {
	st, err := store.Open(s.stateDir, macKey, s.log)
	if err != nil {
		return fmt.Errorf("store.Open: %w", err)
	}
	defer st.Close()
	now := time.Now()
	for i := from; i < to; i += step {
		r := *seed
		r.Alias = fmt.Sprintf("k%06d", i)
		r.Created = now
		_, _ = rand.Read(r.KeyID[:])
		if err := st.Create(&r, 0); err != nil {
			return fmt.Errorf("store.Create %s: %w", r.Alias, err)
		}
	}
	return nil
}

func (s *scaler) integrityKey(ctx context.Context) ([]byte, error) {
	t, err := tpm.OpenSpec(ctx, s.tpmSpec, tpm.Options{StateDir: s.stateDir, Logger: s.log})
	if err != nil {
		return nil, fmt.Errorf("tpm.Open: %w", err)
	}
	defer t.Close()
	key, err := store.LoadIntegrityKey(ctx, t, s.stateDir)
	if err != nil {
		return nil, fmt.Errorf("store.LoadIntegrityKey: %w", err)
	}
	return key, nil
}

// seedRecord reads the seed key's record; its owner is the bench's uid.
func (s *scaler) seedRecord(macKey []byte) (*store.Record, error) {
	st, err := store.Open(s.stateDir, macKey, s.log)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	defer st.Close()
	r, err := st.Get(uint32(os.Getuid()), seedAlias)
	if err != nil {
		return nil, fmt.Errorf("store.Get %s: %w", seedAlias, err)
	}
	cp := *r
	return &cp, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }
