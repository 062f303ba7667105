package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// mainCases runs the raw floor on swtpm #1 and every agent case on swtpm
// #2, alternating raw and agent phases for each case, round after round.
// The agent's hot ECC key and RSA key are the floor's own keys.
func (r *run) mainCases(ctx context.Context, rep *Report) error {
	tr, err := r.tpms[0].Open()
	if err != nil {
		return fmt.Errorf("bench: open swtpm #1: %w", err)
	}
	defer tr.Close()
	rw, err := openRaw(ctx, tr)
	if err != nil {
		return fmt.Errorf("bench: raw setup: %w", err)
	}
	err = importRawKeys(ctx, r.tpms[1].Spec(), r.statePath(), rw, r.log)
	if err == nil {
		err = r.againstDaemon(ctx, rw, rep)
	}
	if cerr := rw.Close(); err == nil {
		err = cerr
	}
	return err
}

func (r *run) againstDaemon(ctx context.Context, rw *raw, rep *Report) error {
	if err := r.writeConfig(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	var args []string
	if r.cfg.CPUProfile != "" {
		p, err := filepath.Abs(r.cfg.CPUProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		args = append(args, "--cpuprofile", p)
	}
	args = append(args, "--ssh-socket", r.sshSocketPath())
	p11sock := filepath.Join(r.dir, "pkcs11.sock")
	args = append(args, "--pkcs11-socket", p11sock)
	d, err := r.startDaemon(ctx, r.statePath(), args...)
	if err != nil {
		return err
	}
	r.log.Info("tpmkeyd ready", "ready", d.ready)
	env, err := setupAgent(ctx, d.cfg.socket, 64)
	if err == nil {
		if err = env.setupSSH(ctx, r.sshSocketPath(), sshConns); err != nil {
			env.close()
		} else if env.p11, err = setupPKCS11(p11sock, env.digest); err != nil {
			env.close()
		}
	}
	if err == nil {
		err = r.rounds(ctx, rw, env, d, rep)
		env.close()
	}
	if serr := d.stop(); err == nil {
		err = serr
	}
	return err
}

// tally accumulates one case over the rounds.
type tally struct {
	agent, raw Sample
	ratios     []float64
	cpu        time.Duration // daemon CPU during the agent phases
}

// rounds runs the alternating phases and fills rep.Cases and rep.Raw.
func (r *run) rounds(ctx context.Context, rw *raw, env *agentEnv, d *daemonProc, rep *Report) error {
	cases, err := selectCases(env.cases(), r.cfg.Cases)
	if err != nil {
		return err
	}
	if err := warmUp(ctx, cases, rw); err != nil {
		return err
	}
	if rep.Memory.Idle, err = d.memory(); err != nil {
		return err
	}
	tallies := make([]tally, len(cases))
	pooled := map[Reference]*Sample{}
	sampler := newMemSampler(d)
	defer func() { rep.Memory.UnderLoad = sampler.stop() }()
	for round := range r.cfg.Rounds {
		for i, c := range cases {
			pair := r.pair
			if f, ok := env.softFloor(c.ref); ok { // a software floor (aeadcases.go)
				pair = func(ctx context.Context, _ *raw, d *daemonProc, c agentCase, t *tally) error {
					return r.pairSoft(ctx, f, d, c, t)
				}
			}
			if err := pair(ctx, rw, d, c, &tallies[i]); err != nil {
				return fmt.Errorf("bench: round %d: %w", round+1, err)
			}
			r.log.Info("phase", "round", round+1, "case", c.name, "ratio", tallies[i].ratios[round])
		}
	}
	for i, c := range cases {
		t := &tallies[i]
		res := caseResult(c, t.agent, t.raw, t.ratios)
		res.DaemonCPUus = micros(t.cpu) / float64(t.agent.Ops)
		rep.Cases = append(rep.Cases, res)
		if pooled[c.ref] == nil {
			pooled[c.ref] = &Sample{}
		}
		pooled[c.ref].add(t.raw)
	}
	for _, ref := range allRefs {
		if s := pooled[ref]; s != nil {
			rep.Raw = append(rep.Raw, RawResult{Name: ref, Stats: s.stats()})
		}
	}
	return nil
}

// pair runs one raw phase of c's floor, then one agent phase of c.
func (r *run) pair(ctx context.Context, rw *raw, d *daemonProc, c agentCase, t *tally) error {
	rs, err := rw.floor(ctx, c.ref, func(fn op) (Sample, error) { return drive(ctx, 1, r.cfg.Phase, fn) })
	if err != nil {
		return fmt.Errorf("%s: %w", c.ref, err)
	}
	cpu0, err := d.cpuTime()
	if err != nil {
		return err
	}
	as, err := drive(ctx, c.workers, r.cfg.Phase, c.op)
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	cpu1, err := d.cpuTime()
	if err != nil {
		return err
	}
	t.cpu += cpu1 - cpu0
	t.raw.add(rs)
	t.agent.add(as)
	t.ratios = append(t.ratios, as.Rate()/rs.Rate())
	return nil
}

func caseResult(c agentCase, a, rw Sample, ratios []float64) CaseResult {
	res := CaseResult{Name: c.name, Description: c.desc, Workers: c.workers, Reference: c.ref,
		Agent: a.stats(), Raw: rw.stats(), RoundRatios: ratios, Target: c.target}
	res.Ratio = a.Rate() / rw.Rate()
	if c.workers == 1 {
		added := res.Agent.P50us - res.Raw.P50us
		res.AddedP50us = &added
	}
	return res
}

// warmUp runs a few untimed operations of every case and floor, so that the
// first phase does not pay for a cold cache or a first Load.
func warmUp(ctx context.Context, cases []agentCase, rw *raw) error {
	for _, ref := range allRefs {
		_, err := rw.floor(ctx, ref, func(fn op) (Sample, error) {
			for n := range 3 {
				if err := fn(ctx, 0, n); err != nil {
					return Sample{}, err
				}
			}
			return Sample{}, nil
		})
		if err != nil {
			return fmt.Errorf("bench: warm-up %s: %w", ref, err)
		}
	}
	for _, c := range cases {
		for n := range 3 {
			if err := c.op(ctx, 0, n); err != nil {
				return fmt.Errorf("bench: warm-up %s: %w", c.name, err)
			}
		}
	}
	return nil
}

// memSampler polls the daemon's VmRSS while phases run and keeps the peak.
type memSampler struct {
	d    *daemonProc
	quit chan struct{}
	wg   sync.WaitGroup
	peak Memory
}

func newMemSampler(d *daemonProc) *memSampler {
	m := &memSampler{d: d, quit: make(chan struct{})}
	m.wg.Go(func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.quit:
				return
			case <-t.C:
				m.sample()
			}
		}
	})
	return m
}

func (m *memSampler) sample() {
	if mem, err := m.d.memory(); err == nil {
		m.peak.RSSKiB = max(m.peak.RSSKiB, mem.RSSKiB)
		m.peak.HWMKiB = max(m.peak.HWMKiB, mem.HWMKiB)
	}
}

func (m *memSampler) stop() Memory {
	close(m.quit)
	m.wg.Wait()
	m.sample()
	return m.peak
}

// selectCases keeps the named cases, in their usual order; no names: all.
func selectCases(all []agentCase, names []string) ([]agentCase, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []agentCase
	for _, c := range all {
		if slices.Contains(names, c.name) {
			out = append(out, c)
		}
	}
	if len(out) != len(names) {
		return nil, fmt.Errorf("%w: %v", ErrUnknownCase, names)
	}
	return out, nil
}
