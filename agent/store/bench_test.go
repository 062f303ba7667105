package store

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkStoreScale measures the store with 100,000 records of one uid:
// Open plus the first Get (the daemon's start-up and first request),
// then listing every key page by page, and the process's RSS afterwards and
// after a Get of every key (which fills the bounded record cache).
// Setup writes the records once (tens of seconds); run it with
//
//	go test ./agent/store/ -run '^$' -bench StoreScale -benchtime 1x
//
// The OS page cache is warm: the records were just written.
func BenchmarkStoreScale(b *testing.B) {
	const n, page = 100_000, DefaultListLimit
	dir := b.TempDir()
	aliases := writeRecordsFast(b, dir, 1000, n)
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		s, err := Open(dir, testMACKey(), nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Get(1000, aliases[n/2]); err != nil {
			b.Fatal(err)
		}
		openGet := time.Since(start)

		start = time.Now()
		if c, err := s.Count(1000); c != n || err != nil {
			b.Fatalf("Count = %d, %v, want %d", c, err, n)
		}
		firstCount := time.Since(start)

		start = time.Now()
		listed, cursor := 0, ""
		for {
			recs, next, err := s.List(1000, cursor, page)
			if err != nil {
				b.Fatal(err)
			}
			listed += len(recs)
			if cursor = next; cursor == "" {
				break
			}
		}
		listAll := time.Since(start)
		if listed != n {
			b.Fatalf("listed %d records, want %d", listed, n)
		}
		b.ReportMetric(float64(openGet.Microseconds())/1000, "ms-open+get")
		b.ReportMetric(float64(firstCount.Microseconds())/1000, "ms-first-count")
		b.ReportMetric(float64(listAll.Milliseconds()), "ms-list-all")
		b.ReportMetric(procStatusMB(b, "VmRSS"), "MB-rss-after-list")
		b.ReportMetric(procStatusMB(b, "VmHWM"), "MB-rss-peak")
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "MB-heap-inuse")
		// Get every key once: the record cache fills to its bound.
		for _, a := range aliases {
			if _, err := s.Get(1000, a); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(procStatusMB(b, "VmRSS"), "MB-rss-after-get-all")
		s.Close()
	}
}

// procStatusMB reads a "kB" field of /proc/self/status, in MB.
func procStatusMB(b *testing.B, field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// BenchmarkStoreGet is one Get of a cached record (the hot path of every
// request) and of one read from disk (the first use after start-up).
func BenchmarkStoreGet(b *testing.B) {
	s, dir, _ := newTestStore(b)
	writeRecordsFast(b, dir, 1000, 1)
	b.Run("cached", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Get(1000, "k000000"); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("from-disk", func(b *testing.B) {
		for range b.N {
			s.cache.clear()
			if _, err := s.Get(1000, "k000000"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
