//go:build (darwin || fakemetal) && cgo

package metal

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAvailableMemory checks that the memory the backend offers is the device's recommended
// working set (8 GiB on the fake device) less what it has allocated.
func TestAvailableMemory(t *testing.T) {
	b := newTestBackend(t)
	before, err := b.AvailableMemory()
	require.NoError(t, err)
	require.Positive(t, before)
	if FakeDevice() {
		require.Equal(t, int64(8<<30-b.allocated), before)
	}
	b.Alloc(1000)
	b.AllocInt(24)
	after, err := b.AvailableMemory()
	require.NoError(t, err)
	require.Equal(t, before-4*1024, after)
}
