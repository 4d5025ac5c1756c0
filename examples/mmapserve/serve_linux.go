//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/ctdefer/ctdefer/grace"
	"github.com/ctdefer/ctdefer/internal/atomicx"
	"github.com/ctdefer/ctdefer/internal/sysx"
)

// mapping is one generation of a file, mapped. The example maps through
// internal/sysx, this module's one door to golang.org/x/sys/unix; a
// program of your own calls unix.Mmap and unix.Munmap directly.
type mapping struct {
	data []byte // every byte holds byte(gen)
	gen  uint64
}

// window is how much of a file one request reads.
const window = 4 << 10

// readerStats is one reader's counts, written by it alone and read once
// it has ended. Padded, so that readers do not share lines.
type readerStats struct {
	reads, faults, torn uint64
	_                   [40]byte
}

func run(cfg config) (*report, error) {
	if cfg.size < window || cfg.slots < 1 || cfg.readers < 1 {
		return nil, fmt.Errorf("want -size at least %d, and at least one file and one reader", window)
	}
	dir, err := os.MkdirTemp("", "mmapserve")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	g, err := grace.NewMemb(grace.Options{})
	if err != nil {
		return nil, err
	}
	var gen uint64
	newMapping := func() (*mapping, error) {
		gen++
		path := filepath.Join(dir, fmt.Sprintf("segment-%d", gen))
		if err := os.WriteFile(path, bytes.Repeat([]byte{byte(gen)}, cfg.size), 0o600); err != nil {
			return nil, err
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		defer os.Remove(path) // the mapping keeps the pages
		data, err := sysx.MmapFile(int(f.Fd()), cfg.size)
		if err != nil {
			return nil, err
		}
		return &mapping{data: data, gen: gen}, nil
	}
	slots := make([]*grace.Pointer[mapping], cfg.slots)
	for i := range slots {
		m, err := newMapping()
		if err != nil {
			return nil, err
		}
		slots[i] = grace.NewPointer(g, m)
	}

	rep := &report{cfg: cfg}
	stats := make([]readerStats, cfg.readers)
	var stop atomicx.Bool
	var wg sync.WaitGroup
	for i := range cfg.readers {
		h, err := g.Register()
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer h.Unregister()
			debug.SetPanicOnFault(true) // a read of an unmapped page panics, and is counted
			st := &stats[i]
			rng := rand.New(rand.NewPCG(uint64(i), 11))
			for !stop.Load() {
				st.serve(h, slots[rng.IntN(len(slots))], rng.IntN(cfg.size-window+1))
			}
		}()
	}

	// The writer: replace a file, retire the old mapping (munmap after a
	// grace period, or at once with -naive).
	var unmapped atomicx.Uint64
	end := time.Now().Add(cfg.duration)
	for i := 0; time.Now().Before(end); i++ {
		m, err := newMapping()
		if err != nil {
			stop.Store(true)
			wg.Wait()
			return nil, err
		}
		old := slots[i%len(slots)].Swap(m)
		rep.replaced++
		unmap := func() {
			if err := sysx.Munmap(old.data); err != nil {
				panic(err)
			}
			unmapped.Add(1)
		}
		if cfg.naive {
			unmap()
		} else if err := g.Retire(unmap); err != nil {
			return nil, err
		}
		time.Sleep(100 * time.Microsecond)
	}
	stop.Store(true)
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Close(ctx); err != nil { // runs the munmaps still pending
		return nil, err
	}
	for _, p := range slots {
		if err := sysx.Munmap(p.Load().data); err != nil {
			return nil, err
		}
	}
	for _, st := range stats {
		rep.reads += st.reads
		rep.faults += st.faults
		rep.torn += st.torn
	}
	rep.unmapped = unmapped.Load()
	rep.stats = g.Stats()
	return rep, nil
}

// serve is one request: a read-side section around the load of the
// slot's mapping and the read of a window of it.
func (st *readerStats) serve(h *grace.Handle, slot *grace.Pointer[mapping], off int) {
	h.Lock()
	defer h.Unlock()
	defer func() {
		if e := recover(); e != nil {
			if _, fault := e.(interface{ Addr() uintptr }); !fault {
				panic(e)
			}
			st.faults++ // the page was unmapped under the reader
		}
	}()
	m := slot.Load()
	want := byte(m.gen)
	for _, b := range m.data[off : off+window] {
		if b != want {
			st.torn++ // the page was unmapped and reused for another file
			break
		}
	}
	st.reads++
	if st.reads%64 == 0 {
		runtime.Gosched() // requests take turns, as a server's would
	}
}
