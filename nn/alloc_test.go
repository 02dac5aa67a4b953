package nn_test

import (
	"errors"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestCPUMemoryLimit: an Alloc past the limit panics with an *AllocError before it allocates, the
// backend stays usable, and a buffer that is garbage collected gives its bytes back.
func TestCPUMemoryLimit(t *testing.T) {
	const limit = 1 << 20
	c := nn.NewCPUWith(nn.CPUOptions{Threads: 1, MemoryLimit: limit})
	defer c.Close()
	v := c.Alloc(limit / 4) // exactly the limit
	require.Equal(t, limit/4, v.N)

	ae := nntest.AllocErrorOf(t, func() { c.Alloc(1) })
	require.NotNil(t, ae, "one float past the limit")
	require.Equal(t, nn.AllocError{Backend: "cpu", Bytes: 4, Allocated: limit, Limit: limit, What: "the backend's memory limit"}, *ae)
	require.EqualError(t, ae, "nn: cpu: cannot allocate 4 bytes (1.0 MB allocated already): more than the backend's memory limit, 1.0 MB")
	require.NotNil(t, nntest.AllocErrorOf(t, func() { c.AllocInt(1) }), "AllocInt counts against the same limit")
	require.NotNil(t, nntest.AllocErrorOf(t, func() { c.Alloc(math.MaxInt) }), "a size whose bytes overflow")
	require.Contains(t, nntest.AllocErrorOf(t, func() { c.Alloc(math.MaxInt) }).Error(), "cannot allocate more than 2⁶³ bytes")

	// Zero-sized buffers are free; the backend still computes.
	require.Nil(t, nntest.AllocErrorOf(t, func() { c.Alloc(0) }))
	c.Upload(v.Slice(0, 2), []float32{1, 2})
	got := make([]float32, 2)
	c.Download(got, v.Slice(0, 2))
	require.Equal(t, []float32{1, 2}, got)

	// Once v is garbage, its megabyte can be allocated again.
	v = nn.View{}
	require.Eventually(t, func() bool {
		runtime.GC()
		return nntest.AllocErrorOf(t, func() { c.Alloc(limit / 4) }) == nil
	}, 10*time.Second, 10*time.Millisecond, "the collected buffer's bytes were not given back")
}

// TestCPUDefaultMemoryLimit: without a MemoryLimit the backend refuses what no machine has.
func TestCPUDefaultMemoryLimit(t *testing.T) {
	c := nn.NewCPU(1)
	defer c.Close()
	ae := nntest.AllocErrorOf(t, func() { c.Alloc(1 << 60) }) // 4 EB
	require.NotNil(t, ae)
	require.Equal(t, int64(1<<62), ae.Bytes)
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		require.Greater(t, ae.Limit, int64(1<<20), "the machine's memory")
		require.Less(t, ae.Limit, int64(1<<62))
		require.Contains(t, ae.What, "memory")
	}
}

// TestRecoverAllocError: the *AllocError panic becomes the wrapped error; any other panic goes on.
func TestRecoverAllocError(t *testing.T) {
	c := nn.NewCPUWith(nn.CPUOptions{Threads: 1, MemoryLimit: 1000})
	defer c.Close()
	alloc := func(n int) (err error) {
		defer nn.RecoverAllocError(&err, "test: %d floats", n)
		c.Alloc(n)
		return nil
	}
	err := alloc(1000)
	require.EqualError(t, err, "test: 1000 floats: nn: cpu: cannot allocate 4.0 kB (0 bytes allocated already): more than the backend's memory limit, 1.0 kB")
	var ae *nn.AllocError
	require.True(t, errors.As(err, &ae))
	require.Equal(t, int64(4000), ae.Bytes)
	require.NoError(t, alloc(10))

	other := func() (err error) {
		defer nn.RecoverAllocError(&err, "test")
		panic("nn: something else")
	}
	require.PanicsWithValue(t, "nn: something else", func() { _ = other() })
}
