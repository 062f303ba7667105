package protocol

import (
	"math/bits"
	"sync"
)

// Buffer pool size classes: 4 KiB << k, each split in four steps (1, 1.25,
// 1.5, 1.75 times), so that a buffer is at most 25 % larger than asked for
// (a 1 MiB frame with its header takes a 1.25 MiB buffer, not 2 MiB).
// Larger buffers are allocated and dropped, never pooled.
const (
	poolMinShift = 12 // 4 KiB
	poolMaxShift = 24 // 16 MiB, the last class's power of two
	poolSteps    = 4
	poolClasses  = (poolMaxShift-poolMinShift)*poolSteps + 1
)

// BufferPool keeps byte buffers by size class for reuse, so that a frame
// or a sealed message of a megabyte does not cost a fresh allocation (on a
// small heap a fresh 1 MiB allocation costs about 17 times a 1 MiB copy:
// the GC it brings forward, zeroing, page faults).
//
// The rule: a buffer in the pool never holds a secret. Put clears the
// whole buffer; PutClean, for a buffer that never held one (a ciphertext,
// a public response), does not. Buffers taken from the pool have arbitrary,
// non-secret contents. The pool is drained by the GC like any sync.Pool,
// so idle memory does not stay pinned. Safe for concurrent use; the zero
// value is ready.
type BufferPool struct {
	classes [poolClasses]sync.Pool // *[]byte with cap == classSize(i)
}

// classOf is the smallest class whose size is at least n, or -1.
func classOf(n int) int {
	if n <= 1<<poolMinShift {
		return 0
	}
	shift := bits.Len(uint(n-1)) - 1 // 2^shift < n <= 2^(shift+1)
	if shift >= poolMaxShift {
		if n == 1<<poolMaxShift {
			return poolClasses - 1
		}
		return -1
	}
	base := 1 << shift
	step := base / poolSteps
	k := (n - base + step - 1) / step // 1..poolSteps
	return (shift-poolMinShift)*poolSteps + k
}

// classSize is the capacity of class i's buffers.
func classSize(i int) int {
	shift := poolMinShift + i/poolSteps
	return (1 << shift) + (i%poolSteps)*(1<<shift)/poolSteps
}

// floorClass is the largest class whose size is at most c, or -1.
func floorClass(c int) int {
	i := classOf(c)
	if i < 0 {
		return poolClasses - 1
	}
	if classSize(i) > c {
		i--
	}
	return i
}

// Get returns a buffer of length n, from the pool when one of its class
// is there. Its contents are arbitrary (never a secret: see Put).
func (p *BufferPool) Get(n int) *[]byte {
	i := classOf(n)
	if i < 0 {
		b := make([]byte, n)
		return &b
	}
	if bp, ok := p.classes[i].Get().(*[]byte); ok {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n, classSize(i))
	return &b
}

// Put clears the whole buffer (up to its capacity) and keeps it for reuse.
func (p *BufferPool) Put(bp *[]byte) {
	if bp == nil {
		return
	}
	b := (*bp)[:cap(*bp)]
	clear(b)
	p.PutClean(bp)
}

// PutClean keeps the buffer for reuse without clearing it: the caller
// vouches that it holds no secret (it held a ciphertext, or was cleared).
func (p *BufferPool) PutClean(bp *[]byte) {
	if bp == nil {
		return
	}
	c := cap(*bp)
	if c < 1<<poolMinShift || c > 1<<poolMaxShift {
		return
	}
	i := floorClass(c)
	*bp = (*bp)[:0:classSize(i)]
	p.classes[i].Put(bp)
}
