//go:build (darwin || fakemetal) && cgo

package metal

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn/nntest"
)

// TestAllocLargerThanTheDevice: a buffer larger than the device's largest (maxBufferLength) is
// refused with an *nn.AllocError before Metal is asked, and the backend goes on working.
func TestAllocLargerThanTheDevice(t *testing.T) {
	be, err := New()
	require.NoError(t, err)
	defer func() { require.NoError(t, be.Close()) }()
	b := be.(*Backend)
	require.Greater(t, b.maxBuffer, 0)

	ae := nntest.AllocErrorOf(t, func() { b.Alloc(b.maxBuffer/4 + 1) })
	require.NotNil(t, ae)
	require.Equal(t, b.name, ae.Backend)
	require.Equal(t, int64(b.maxBuffer/4+1)*4, ae.Bytes)
	require.Equal(t, int64(b.maxBuffer), ae.Limit)
	require.Contains(t, ae.Error(), "more than the device's largest buffer (maxBufferLength)")
	require.NotNil(t, nntest.AllocErrorOf(t, func() { b.AllocInt(b.maxBuffer/4 + 1) }))
	require.Equal(t, int64(-1), nntest.AllocErrorOf(t, func() { b.Alloc(math.MaxInt) }).Bytes, "bytes that overflow")

	x := b.Alloc(3)
	b.Upload(x, []float32{1, 2, 3})
	b.ResidualForward(x, x, x, 3)
	got := make([]float32, 3)
	b.Download(got, x)
	require.NoError(t, b.Sync())
	require.Equal(t, []float32{2, 4, 6}, got)
}
