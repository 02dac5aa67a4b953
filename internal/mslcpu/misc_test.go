package mslcpu

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// f16 encodes small integers (and halves of them) exactly as IEEE half.
func f16(x float32) []byte {
	if x == 0 {
		return []byte{0, 0}
	}
	b := math.Float32bits(x)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := uint16((b >> 13) & 0x3ff)
	h := sign | uint16(exp)<<10 | mant
	return []byte{byte(h), byte(h >> 8)}
}

// TestMiscBuiltins covers half vectors, float4(half4), SIMD prefix sum / shuffle_down / broadcast /
// any / all, as_type and a device atomic.
func TestMiscBuiltins(t *testing.T) {
	r := StartFile(t, "testdata/misc.metal", Options{Strict: true})
	const n = 32
	var hin []byte
	for g := 0; g < n; g++ {
		for k := 0; k < 4; k++ {
			hin = append(hin, f16(float32(g+k))...)
		}
	}
	for _, order := range Orders {
		out, err := r.Run(Dispatch{Kernel: "misc", Grid: [3]uint32{1, 1, 1}, Threadgroup: [3]uint32{n, 1, 1},
			Buffers: map[int][]byte{0: hin, 1: make([]byte, 16*n), 2: make([]byte, 4), 3: make([]byte, 4*n)}, Order: order})
		require.NoError(t, err)
		o := ToF32(out[1])
		v := func(g int) float32 { return float32(4*g+6) / 2 }
		var pre float32
		for g := 0; g < n; g++ {
			down := v(g)
			if g+1 < n {
				down = v(g + 1)
			}
			require.Equal(t, []float32{pre, down, v(3), 2}, o[4*g:4*g+4], "gid %d order %v", g, order)
			require.Equal(t, v(g), math.Float32frombits(binary.LittleEndian.Uint32(out[3][4*g:])), "as_type at %d", g)
			pre += v(g)
		}
		require.Equal(t, uint32(n), binary.LittleEndian.Uint32(out[2]), "atomic count")
	}
}

func TestVecOps(t *testing.T) {
	r := StartFile(t, "testdata/kernels.metal", Options{})
	in := []float32{1, 2, 3, 4, -1, 0.5, 2, -3}
	out, err := r.Run(Dispatch{Kernel: "vec_ops", Grid: [3]uint32{2, 1, 1}, Threads: true, Threadgroup: [3]uint32{32, 1, 1},
		Buffers: map[int][]byte{0: F32(in), 1: make([]byte, 32)}})
	require.NoError(t, err)
	got := ToF32(out[1])
	for i := 0; i < 2; i++ {
		v := in[4*i : 4*i+4]
		r := []float32{v[2] * 2, v[3] * 2, v[1], v[0] + v[0] + v[1] + v[2] + v[3]}
		w := []float32{r[0], r[1], r[2], float32(math.Sqrt(float64(v[0]*v[0]+v[1]*v[1]+v[2]*v[2]))) + r[3]}
		requireClose(t, got[4*i:4*i+4], w, 1e-6)
	}
}
