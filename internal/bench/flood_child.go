package bench

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/protocol"
)

// FlooderMain is the flooder (IsFlooder): it reads a floodJob from stdin,
// sets up, writes "start", floods, writes "done" with its result, and
// returns the exit code.
func FlooderMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, flooderTimeout)
	defer cancel()
	out := json.NewEncoder(os.Stdout)
	var job floodJob
	err := json.NewDecoder(os.Stdin).Decode(&job)
	var res FlooderResult
	if err == nil {
		res, err = flood(ctx, job, func() { _ = out.Encode(floodEvent{Event: "start"}) })
	}
	if err != nil {
		_ = out.Encode(floodEvent{Event: "error", Error: err.Error()})
		fmt.Fprintf(os.Stderr, "flooder: %v\n", err)
		return 1
	}
	res.UID = os.Getuid()
	_ = out.Encode(floodEvent{Event: "done", Result: &res})
	return 0
}

// flood runs job's scenario; started is called when the setup is done.
func flood(ctx context.Context, job floodJob, started func()) (FlooderResult, error) {
	f := &flooder{job: job, cfg: job.Config, prefix: "flood-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	switch job.Scenario {
	case ScenarioKeygenQueue:
		return f.keygenQueue(ctx, started)
	case ScenarioBigFrames:
		return f.bigFrames(ctx, started)
	case ScenarioWrongPINs:
		return f.wrongPINs(ctx, started)
	case ScenarioConnections:
		return f.connections(ctx, started)
	}
	return FlooderResult{}, fmt.Errorf("%w: %q", ErrUnknownScenario, job.Scenario)
}

type flooder struct {
	job    floodJob
	cfg    FloodConfig
	prefix string // makes the flooder's keygen aliases unique across scenarios
}

// The flooder's own keys.
const (
	flooderKey    = "flood-ec"
	flooderPINKey = "flood-pin"
	flooderPIN    = "flood-right-pin"
)

func (f *flooder) dial(ctx context.Context) (*client.Client, error) {
	c, err := client.Dial(ctx, f.job.Socket, client.WithClientName("tpmkey-bench-flooder"))
	if err != nil {
		return nil, fmt.Errorf("client.Dial: %w", err)
	}
	return c, nil
}

// alias is a fresh alias for the n-th keygen of this flooder.
func (f *flooder) alias(n int64) string {
	return f.prefix + "-" + strconv.FormatInt(n, 10)
}

// ensureKey generates alias unless the flooder already has it.
func ensureKey(ctx context.Context, c *client.Client, alias string, opts ...client.CallOption) error {
	_, err := c.GenerateKey(ctx, alias, client.AlgECP256, opts...)
	if err != nil && !errors.Is(err, client.ErrKeyExists) {
		return fmt.Errorf("GenerateKey %s: %w", alias, err)
	}
	return nil
}

// keygenQueue pipelines cfg.Keygens keygens on one connection and waits
// for every answer.
func (f *flooder) keygenQueue(ctx context.Context, started func()) (FlooderResult, error) {
	c, err := f.dial(ctx)
	if err != nil {
		return FlooderResult{}, err
	}
	defer c.Close()
	tr := newTracker()
	started()
	var wg sync.WaitGroup
	for i := range f.cfg.Keygens {
		wg.Go(func() {
			_, err := c.GenerateKey(ctx, f.alias(int64(i)), client.Algorithm(f.cfg.KeygenAlg))
			tr.record(err)
		})
	}
	wg.Wait()
	return tr.result(), nil
}

// wrongPINs sends cfg.WrongPINs signs with a wrong PIN to the flooder's own
// PIN key, cfg.PINWorkers at a time on one connection, reopening the
// connection when the daemon closes it.
func (f *flooder) wrongPINs(ctx context.Context, started func()) (FlooderResult, error) {
	cc := &reconnecting{dial: f.dial}
	c, err := cc.get(ctx)
	if err != nil {
		return FlooderResult{}, err
	}
	defer cc.close()
	if err := ensureKey(ctx, c, flooderPINKey, client.WithPIN([]byte(flooderPIN))); err != nil {
		return FlooderResult{}, err
	}
	digest := make([]byte, 32)
	tr := newTracker()
	var next atomic.Int64
	started()
	var wg sync.WaitGroup
	for range f.cfg.PINWorkers {
		wg.Go(func() {
			for n := next.Add(1); n <= int64(f.cfg.WrongPINs) && ctx.Err() == nil; n = next.Add(1) {
				c, err := cc.get(ctx)
				if err == nil {
					pin := []byte("wrong-" + strconv.FormatInt(n, 10))
					_, err = c.Sign(ctx, flooderPINKey, crypto.SHA256, digest, client.WithPIN(pin))
					cc.failed(c, err)
				}
				tr.record(err)
			}
		})
	}
	wg.Wait()
	res := tr.result()
	res.Reconnects = cc.reconnects()
	return res, ctx.Err()
}

// connections opens up to cfg.Conns connections one after the other,
// holds those the daemon accepted for cfg.ConnsFor, then closes them.
func (f *flooder) connections(ctx context.Context, started func()) (FlooderResult, error) {
	tr := newTracker()
	started()
	var held []*client.Client
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range f.cfg.Conns {
		c, err := f.dial(ctx)
		tr.record(err)
		if err == nil {
			held = append(held, c)
		}
		if ctx.Err() != nil {
			return FlooderResult{}, ctx.Err()
		}
	}
	res := tr.result()
	res.Connections = len(held)
	return res, sleepCtx(ctx, f.cfg.ConnsFor)
}

// reconnecting is a connection that is reopened once the daemon closed it
// (it closes a connection that keeps sending failing requests).
type reconnecting struct {
	dial func(context.Context) (*client.Client, error)
	mu   sync.Mutex
	c    *client.Client // guarded by mu
	n    int            // guarded by mu: reopened this often
}

func (r *reconnecting) get(ctx context.Context) (*client.Client, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		return r.c, nil
	}
	c, err := r.dial(ctx)
	if err != nil {
		return nil, err
	}
	r.c = c
	r.n++
	return c, nil
}

// failed forgets c if err says it is closed.
func (r *reconnecting) failed(c *client.Client, err error) {
	if !errors.Is(err, client.ErrConnectionClosed) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c == c {
		r.c.Close()
		r.c = nil
	}
}

func (r *reconnecting) reconnects() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return max(r.n-1, 0)
}

func (r *reconnecting) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		r.c.Close()
	}
}

// tracker counts the flood's answers by status and when they came.
type tracker struct {
	start time.Time
	mu    sync.Mutex
	times []time.Time       // guarded by mu
	res   FlooderResult     // guarded by mu: Statuses, Errors
	first map[string]string // guarded by mu
}

func newTracker() *tracker {
	return &tracker{start: time.Now(), res: FlooderResult{Statuses: map[string]int{}}, first: map[string]string{}}
}

func (t *tracker) record(err error) { t.recordStatus(statusName(err), err) }

func (t *tracker) recordStatus(status string, err error) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.times = append(t.times, now)
	t.res.Statuses[status]++
	if err != nil && t.first[status] == "" {
		t.first[status] = err.Error()
	}
}

func (t *tracker) result() FlooderResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	res := t.res
	res.Requests = len(t.times)
	if len(t.first) > 0 {
		res.Errors = t.first
	}
	times := slices.Clone(t.times)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	prev := t.start
	var longest time.Duration
	for _, at := range times {
		longest = max(longest, at.Sub(prev))
		prev = at
	}
	res.LongestGapMs = ms(longest)
	return res
}

// statusName is the wire status of a call's outcome.
func statusName(err error) string {
	var pe *protocol.Error
	switch {
	case err == nil:
		return "OK"
	case errors.As(err, &pe):
		return pe.Status.String()
	case errors.Is(err, client.ErrConnectionClosed):
		return "CONNECTION_CLOSED"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "CANCELED"
	}
	return "ERROR"
}
