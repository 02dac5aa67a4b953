package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	st "github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/require"
)

// TestHalfRoundsToNearest: every finite half is its own conversion, and every float32 between
// two neighbouring halves (a sample of them) goes to the nearer, the even one on a tie.
func TestHalfRoundsToNearest(t *testing.T) {
	for h := uint16(0); h < 0x7c00; h++ {
		for _, s := range []uint16{0, 0x8000} {
			v := float32(HalfValue(h | s))
			got, ok := Half(v)
			require.True(t, ok, "%#04x", h|s)
			require.Equal(t, h|s, got, "%v", v)
			if h+1 == 0x7c00 {
				continue
			}
			lo, hi := HalfValue(h|s), HalfValue((h+1)|s)
			for _, f := range []float64{0.25, 0.5, 0.75} {
				x := float32(lo + f*(hi-lo))
				g, ok := Half(x)
				require.True(t, ok)
				want := h | s
				if d := math.Abs(float64(x) - lo); d > math.Abs(float64(x)-hi) || d == math.Abs(float64(x)-hi) && h&1 == 1 {
					want = (h + 1) | s
				}
				require.Equal(t, want, g, "%v between %v and %v", x, lo, hi)
			}
		}
	}
	for _, bad := range []float32{65520, -65520, 1e6, float32(math.Inf(1)), float32(math.NaN())} {
		_, ok := Half(bad)
		require.False(t, ok, "%v", bad)
	}
	h, ok := Half(65519) // rounds down to 65504
	require.True(t, ok)
	require.Equal(t, 65504.0, HalfValue(h))
	h, ok = Half(1e-9) // below half the smallest subnormal
	require.True(t, ok)
	require.Equal(t, uint16(0), h)
	_, err := F16([]float32{1, 70000})
	require.EqualError(t, err, "safetensors: element 1, 70000, does not fit a float16 (largest 65504)")
}

// TestWriteReadsWithIndependentReader: a file Write wrote loads with github.com/nlpodyssey/safetensors,
// names, dtypes, shapes, data and metadata intact, its data section 8-byte aligned.
func TestWriteReadsWithIndependentReader(t *testing.T) {
	f16, err := F16([]float32{1, -2.5, 0.1})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, Write(&b, []Tensor{
		{"a.weight", "F32", []int{2, 2}, F32([]float32{1, 2, 3, 4})},
		{"b", "F16", []int{3}, f16},
	}, map[string]string{"format": "pt"}))
	hl := binary.LittleEndian.Uint64(b.Bytes())
	require.Zero(t, hl%8)
	f, err := st.Deserialize(b.Bytes())
	require.NoError(t, err)
	a, ok := f.Tensor("a.weight")
	require.True(t, ok)
	require.Equal(t, []uint64{2, 2}, a.Shape())
	require.Equal(t, "F32", a.DType().String())
	require.Equal(t, F32([]float32{1, 2, 3, 4}), a.Data())
	bt, ok := f.Tensor("b")
	require.True(t, ok)
	require.Equal(t, "F16", bt.DType().String())
	require.Equal(t, f16, bt.Data())
	_, md, err := st.ReadMetadata(b.Bytes())
	require.NoError(t, err)
	require.Equal(t, map[string]string{"format": "pt"}, md.Metadata())

	require.ErrorContains(t, Write(&b, []Tensor{{Name: "x"}, {Name: "x"}}, nil), "repeated")
}
