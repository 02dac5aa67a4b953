package mslcpu

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestConcurrentBuilds builds several new sources and build modes from goroutines at once (the
// way parallel tests do); each must succeed and run. -short skips it: its sources are new on
// every run, so nothing comes from the cache.
func TestConcurrentBuilds(t *testing.T) {
	NeedCompiler(t)
	if testing.Short() {
		t.Skip("-short: no uncached builds")
	}
	nonce := fmt.Sprintf("c%d", time.Now().UnixNano())
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("%s_%d", nonce, i%2)
			p, err := BuildSource("copy.metal", []byte(fmt.Sprintf(copySrc, name, name)), Options{Strict: i >= 2})
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(func() { os.Remove(p.Path) }) // one-off sources: do not grow the cache
			r, err := p.Start()
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Close()
			out, err := r.Run(Dispatch{Kernel: "copy_" + name, Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{2, 1, 1},
				Buffers: map[int][]byte{0: F32([]float32{1, 2}), 1: make([]byte, 8)}})
			if err == nil && ToF32(out[1])[1] != 4 {
				err = fmt.Errorf("got %v", ToF32(out[1]))
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}
