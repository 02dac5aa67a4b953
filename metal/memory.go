//go:build (darwin || fakemetal) && cgo

package metal

import "github.com/kvgpt/kvgpt/nn"

var _ nn.MemoryReporter = (*Backend)(nil)

// AvailableMemory reports the memory new buffers may take on the GPU: the device's
// recommendedMaxWorkingSetSize (what it can use without hurting performance; on Apple silicon a
// share of the unified memory) less the bytes of the buffers the backend has allocated.
func (b *Backend) AvailableMemory() (int64, error) {
	b.live()
	var ws uint64
	inPool(func() { ws = b.dev.RecommendedMaxWorkingSetSize() })
	return int64(min(ws, 1<<62)) - int64(b.allocated), nil
}
