package mslcpu

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSimdReductions checks the SIMD-group functions against a reference that applies their
// definitions to the lanes of each simdgroup, including a partial last simdgroup (tg=80).
func TestSimdReductions(t *testing.T) {
	r := StartFile(t, "testdata/reduce.metal", Options{})
	rng := rand.New(rand.NewSource(9))
	const rows = 3
	for _, tg := range []int{32, 80, 1024} {
		for _, order := range Orders {
			t.Run(fmt.Sprintf("rows=%d/tg=%d/order=%v", rows, tg, order), func(t *testing.T) {
				x := randVec(rng, rows*tg)
				nsg := (tg + 31) / 32
				out, err := r.Run(Dispatch{Kernel: "simd_ops", Grid: [3]uint32{rows, 1, 1}, Threadgroup: [3]uint32{uint32(tg), 1, 1},
					Buffers:      map[int][]byte{0: F32(x), 1: make([]byte, 4*8*rows*tg)},
					TGMemLengths: map[int]int{0: 16 * ((4*nsg + 15) / 16)}, Order: order})
				require.NoError(t, err)
				got := ToF32(out[1])
				for row := 0; row < rows; row++ {
					v := x[row*tg : (row+1)*tg]
					total := 0.0
					for _, e := range v {
						total += float64(e)
					}
					for sg := 0; sg < nsg; sg++ {
						lo, hi := sg*32, min(tg, sg*32+32)
						lanes := v[lo:hi]
						sum, mx, mn := 0.0, math.Inf(-1), math.Inf(1)
						for _, e := range lanes {
							sum += float64(e)
							mx = math.Max(mx, float64(e))
							mn = math.Min(mn, float64(e))
						}
						prefix := 0.0
						for l := range lanes {
							o := got[(row*tg+lo+l)*8:][:8]
							where := fmt.Sprintf("row %d lane %d of simdgroup %d", row, l, sg)
							require.InDelta(t, sum, o[0], 1e-5, "simd_sum at %s", where)
							require.Equal(t, float32(mx), o[1], "simd_max at %s", where)
							require.Equal(t, float32(mn), o[2], "simd_min at %s", where)
							require.InDelta(t, prefix, o[3], 1e-5, "simd_prefix_exclusive_sum at %s", where)
							prefix += float64(lanes[l])
							if len(lanes) == 32 { // xor partners outside a partial simdgroup are undefined
								require.InDelta(t, sum, o[4], 1e-5, "simd_shuffle_xor butterfly at %s", where)
							}
							switch {
							case l == 31:
								require.Equal(t, lanes[l], o[5], "simd_shuffle_down past lane 31 keeps the value, at %s", where)
							case l+1 < len(lanes):
								require.Equal(t, lanes[l+1], o[5], "simd_shuffle_down at %s", where)
							}
							require.Equal(t, lanes[5], o[6], "simd_broadcast at %s", where)
							require.InDelta(t, total, o[7], 1e-4, "threadgroup sum at %s", where)
						}
					}
				}
			})
		}
	}
}
