package bench

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tpmkeyd/tpmkeyd/client"
	"github.com/tpmkeyd/tpmkeyd/internal/e2e"
)

// Targets of the stream part (issue 11).
const (
	targetStreamRatio  = 0.7
	targetStreamRSSMiB = 64
)

const (
	streamAlias   = "bench-stream"
	streamSegment = 64 << 10 // the CLI's segment size
	tmpfsMagic    = 0x01021994
)

// StreamResult is tpmkey encrypt of one file against in-process Go
// AES-256-GCM over the same bytes.
type StreamResult struct {
	Bytes      int64  `json:"bytes"`
	Dir        string `json:"dir"`
	Filesystem string `json:"filesystem"` // tmpfs or disk
	Rounds     int    `json:"rounds"`
	// TpmkeyMBps is the tpmkey encrypt process, start to exit (dial,
	// GenerateDataKey, read, seal, write, fsync, rename), pooled over the
	// rounds.
	TpmkeyMBps float64 `json:"tpmkey_encrypt_mb_per_sec"`
	// InProcessMBps is Go AES-256-GCM in this process in 64 KiB segments,
	// with the same file I/O: read the input, write the output, fsync.
	InProcessMBps float64 `json:"in_process_mb_per_sec"`
	// MemoryMBps is the same AES-256-GCM with no file I/O at all.
	MemoryMBps float64 `json:"in_memory_gcm_mb_per_sec"`
	// Ratio is TpmkeyMBps / InProcessMBps.
	Ratio float64 `json:"ratio"`
	// MemoryRatio is TpmkeyMBps / MemoryMBps.
	MemoryRatio float64 `json:"ratio_to_in_memory"`
	Target      float64 `json:"target_ratio"`
	// PeakRSSMiB is the largest ru_maxrss of the tpmkey encrypt processes.
	PeakRSSMiB float64 `json:"tpmkey_peak_rss_mib"`
	// DecryptMBps is tpmkey decrypt of the same file (to a file, fsynced),
	// and its peak RSS.
	DecryptMBps       float64 `json:"tpmkey_decrypt_mb_per_sec"`
	DecryptPeakRSSMiB float64 `json:"tpmkey_decrypt_peak_rss_mib"`
}

// stream runs the stream part on a daemon of its own, if asked.
func (r *run) stream(ctx context.Context, rep *Report) error {
	if r.cfg.StreamBytes <= 0 {
		return nil
	}
	dir := r.cfg.StreamDir
	if dir == "" {
		dir = r.dir
	}
	work, err := os.MkdirTemp(dir, "tpmkey-bench-stream")
	if err != nil {
		return fmt.Errorf("bench: stream: %w", err)
	}
	defer os.RemoveAll(work)
	bins, err := e2e.Build(ctx, r.dir, "cmd/tpmkey")
	if err != nil {
		return fmt.Errorf("bench: stream: %w", err)
	}
	if err := r.writeConfig(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	d, err := r.startDaemon(ctx, filepath.Join(r.dir, "stream-state"))
	if err != nil {
		return err
	}
	res, err := r.measureStream(ctx, d.cfg.socket, bins[0], work)
	if serr := d.stop(); err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("bench: stream: %w", err)
	}
	rep.Stream = res
	return nil
}

func (r *run) measureStream(ctx context.Context, socket, tpmkey, work string) (*StreamResult, error) {
	c, err := client.Dial(ctx, socket, client.WithTrustSameUser())
	if err != nil {
		return nil, err
	}
	_, err = c.GenerateKey(ctx, streamAlias, client.AlgAES256GCM)
	c.Close()
	if err != nil {
		return nil, err
	}
	n := r.cfg.StreamBytes
	in, out, back := filepath.Join(work, "in"), filepath.Join(work, "out"), filepath.Join(work, "back")
	r.log.Info("stream: writing the input", "bytes", n, "dir", work)
	if err := writeRandomFile(in, n); err != nil {
		return nil, err
	}
	res := &StreamResult{Bytes: n, Dir: work, Filesystem: filesystem(work), Rounds: r.cfg.Rounds, Target: targetStreamRatio}
	var tTPM, tIn, tMem, tDec time.Duration
	env := append(os.Environ(), client.SocketEnv+"="+socket, "TPMKEY_TRUST_SERVER_UID="+strconv.Itoa(os.Getuid()))
	for round := range r.cfg.Rounds {
		r.log.Info("stream", "round", round+1)
		// Alternate which runs first, so that neither always meets the
		// page cache the other left.
		inproc := func() error {
			d, err := sealFile(in, filepath.Join(work, "inproc"))
			tIn += d
			os.Remove(filepath.Join(work, "inproc"))
			return err
		}
		if round%2 == 0 {
			if err := inproc(); err != nil {
				return nil, err
			}
		}
		d, rss, err := runTimed(ctx, env, tpmkey, "encrypt", streamAlias, "--in", in, "--out", out)
		if err != nil {
			return nil, err
		}
		tTPM += d
		res.PeakRSSMiB = max(res.PeakRSSMiB, rss)
		if round%2 == 1 {
			if err := inproc(); err != nil {
				return nil, err
			}
		}
		tMem += sealMemory(n)
		d, rss, err = runTimed(ctx, env, tpmkey, "decrypt", "--in", out, "--out", back)
		if err != nil {
			return nil, err
		}
		tDec += d
		res.DecryptPeakRSSMiB = max(res.DecryptPeakRSSMiB, rss)
		if fi, err := os.Stat(back); err != nil {
			return nil, err
		} else if fi.Size() != n {
			return nil, fmt.Errorf("tpmkey decrypt gave %d bytes, want %d", fi.Size(), n)
		}
		os.Remove(out)
		os.Remove(back)
	}
	total := float64(n) * float64(r.cfg.Rounds) / 1e6
	res.TpmkeyMBps = total / tTPM.Seconds()
	res.InProcessMBps = total / tIn.Seconds()
	res.MemoryMBps = total / tMem.Seconds()
	res.DecryptMBps = total / tDec.Seconds()
	res.Ratio = res.TpmkeyMBps / res.InProcessMBps
	res.MemoryRatio = res.TpmkeyMBps / res.MemoryMBps
	return res, nil
}

// runTimed runs one tpmkey command and returns its wall time and peak RSS
// in MiB: the process's own high-water mark (VmHWM in /proc/PID/status,
// polled while it runs). wait4's ru_maxrss is not used when the poll saw
// the process: Linux carries the parent's RSS into a child's ru_maxrss at
// exec, so a large bench process would be counted as the child's peak.
func runTimed(ctx context.Context, env []string, bin string, args ...string) (time.Duration, float64, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, fmt.Errorf("tpmkey %s: %w", args[0], err)
	}
	done := make(chan struct{})
	hwm := make(chan float64, 1)
	go func() { hwm <- pollHWM(cmd.Process.Pid, done) }()
	err := cmd.Wait()
	d := time.Since(start)
	close(done)
	peak := <-hwm
	if err != nil {
		return 0, 0, fmt.Errorf("tpmkey %s: %w: %s", args[0], err, stderr.b)
	}
	if peak > 0 {
		return d, peak, nil
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, 0, errors.New("no rusage for the tpmkey process")
	}
	return d, float64(ru.Maxrss) / 1024, nil
}

// pollHWM reads pid's VmHWM (MiB) every 10 ms until done is closed, and
// returns the largest value read; 0 if none was. VmHWM only grows, so the
// last read before the process exits is at most 10 ms behind its peak.
func pollHWM(pid int, done <-chan struct{}) float64 {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var peak float64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					var kib float64
					if _, err := fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), &kib); err == nil {
						peak = max(peak, kib/1024)
					}
				}
			}
		}
		select {
		case <-done:
			return peak
		case <-t.C:
		}
	}
}

type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if len(l.b) < 4096 {
		l.b = append(l.b, p[:min(len(p), 4096-len(l.b))]...)
	}
	return len(p), nil
}

func writeRandomFile(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for left := n; left > 0; left -= int64(len(buf)) {
		buf[0]++ // not one repeated MiB, in case the filesystem compresses
		if _, err := f.Write(buf[:min(int64(len(buf)), left)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func newBenchGCM() cipher.AEAD {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	return gcm
}

// sealFile is the in-process floor: AES-256-GCM in 64 KiB segments from
// in to a new file, fsynced, as tpmkey encrypt does the work, with I/O in
// 1 MiB reads and writes (larger than tpmkey's, so the floor is not
// slowed by its own syscalls).
func sealFile(in, out string) (time.Duration, error) {
	gcm := newBenchGCM()
	const batch = 16 // segments per read and write
	start := time.Now()
	src, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	pt := make([]byte, batch*streamSegment)
	ct := make([]byte, 0, batch*(streamSegment+gcm.Overhead()))
	nonce := make([]byte, gcm.NonceSize())
	var i uint32
	for {
		n, rerr := io.ReadFull(src, pt)
		ct = ct[:0]
		for off := 0; off < n || (i == 0 && off == 0); off += streamSegment {
			binary.BigEndian.PutUint32(nonce[4:], i)
			ct = gcm.Seal(ct, nonce, pt[off:min(off+streamSegment, n)], nil)
			i++
		}
		if _, err := dst.Write(ct); err != nil {
			return 0, err
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return 0, rerr
		}
	}
	if err := dst.Sync(); err != nil {
		return 0, err
	}
	return time.Since(start), dst.Close()
}

// sealMemory is AES-256-GCM over n bytes in 64 KiB segments, no I/O.
func sealMemory(n int64) time.Duration {
	gcm := newBenchGCM()
	buf := make([]byte, streamSegment+gcm.Overhead())
	nonce := make([]byte, gcm.NonceSize())
	start := time.Now()
	for i := int64(0); i*streamSegment < n; i++ {
		binary.BigEndian.PutUint32(nonce[4:], uint32(i))
		gcm.Seal(buf[:0], nonce, buf[:streamSegment], nil)
	}
	return time.Since(start)
}

// filesystem says whether dir is on a tmpfs.
func filesystem(dir string) string {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) == nil && st.Type == tmpfsMagic {
		return "tmpfs"
	}
	return "disk"
}

// streamMisses lists the stream part's missed targets.
func streamMisses(s *StreamResult) []string {
	if s == nil {
		return nil
	}
	var out []string
	if s.Ratio < s.Target {
		out = append(out, fmt.Sprintf("stream encrypt of %d MiB: ratio %.2f, target ≥%.2f", s.Bytes>>20, s.Ratio, s.Target))
	}
	if s.PeakRSSMiB >= targetStreamRSSMiB {
		out = append(out, fmt.Sprintf("stream encrypt: tpmkey peak RSS %.1f MiB, target <%d MiB", s.PeakRSSMiB, targetStreamRSSMiB))
	}
	return out
}

func writeStream(w io.Writer, s *StreamResult) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "\nstream: tpmkey encrypt of %d MiB on %s (%s), %d rounds: %.0f MB/s; in-process AES-256-GCM with the same I/O %.0f MB/s (ratio %.2f, target ≥%.2f); without I/O %.0f MB/s (ratio %.2f); tpmkey peak RSS %.1f MiB (target <%d); tpmkey decrypt %.0f MB/s, peak RSS %.1f MiB\n",
		s.Bytes>>20, s.Filesystem, s.Dir, s.Rounds, s.TpmkeyMBps, s.InProcessMBps, s.Ratio, s.Target,
		s.MemoryMBps, s.MemoryRatio, s.PeakRSSMiB, targetStreamRSSMiB, s.DecryptMBps, s.DecryptPeakRSSMiB)
}
