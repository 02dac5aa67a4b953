package gpt

import (
	"fmt"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNumParams(t *testing.T) {
	for _, c := range []struct{ L, C, NH, V, T int }{{1, 8, 2, 256, 16}, {4, 128, 4, 65, 128}, {12, 768, 12, 50304, 1024}} {
		t.Run(fmt.Sprintf("L=%d/C=%d/V=%d/T=%d", c.L, c.C, c.V, c.T), func(t *testing.T) {
			base := Config{NLayer: c.L, NHead: c.NH, NEmbd: c.C, BlockSize: c.T, VocabSize: c.V, QueryMode: Baseline}
			id := base
			id.QueryMode = Identity
			C, L := c.C, c.L
			// Counted by hand: embeddings, per block ln1 + attn + proj + ln2 + fc + fcproj, ln_f.
			require.Equal(t, c.V*C+c.T*C+L*(C+3*C*C+C*C+C+4*C*C+4*C*C)+C, base.NumParams())
			require.Equal(t, base.NumParams()-L*C*C, id.NumParams(), "identity = baseline − L·C²")
			id.MLPHidden = 9 * C / 2
			require.Equal(t, base.NumParams(), id.NumParams(), "identity at 4.5·C = baseline at 4·C")
			// The parameter views tile the slab exactly.
			n := 0
			for _, ts := range tensors(base, newParamViews(base, fakeSlab(base.NumParams()))) {
				sz := 1
				for _, d := range ts.Shape {
					sz *= d
				}
				require.Equal(t, sz, ts.Len(), ts.Name)
				n += sz
			}
			require.Equal(t, base.NumParams(), n)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{NLayer: 2, NHead: 4, NEmbd: 64, BlockSize: 32, VocabSize: 256, QueryMode: Baseline}
	require.Equal(t, 256, c.Hidden())
	require.Equal(t, 3*64, c.QKVWidth())
	require.InDelta(t, 1/math.Sqrt(16), c.Scale(), 1e-7)
	require.Equal(t, 0.1, c.DefaultWeightDecay())
	c.QueryMode = Identity
	require.Equal(t, 2*64, c.QKVWidth())
	require.InDelta(t, 1/(2*math.Sqrt(16)), c.Scale(), 1e-7)
	require.Equal(t, 1.0/32, c.DefaultWeightDecay())
	c.AttnScale = 0.3
	require.InDelta(t, 0.3, c.Scale(), 1e-7)
}

func TestConfigValidate(t *testing.T) {
	good := Config{NLayer: 2, NHead: 4, NEmbd: 64, BlockSize: 32, VocabSize: 256, QueryMode: Identity}
	require.NoError(t, good.Validate())
	for _, c := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"NEmbd not divisible by NHead", func(c *Config) { c.NHead = 5 }, "n-embd 64 is not divisible by n-head 5"},
		{"no layers", func(c *Config) { c.NLayer = 0 }, "n-layer"},
		{"no heads", func(c *Config) { c.NHead = 0 }, "n-head"},
		{"block size 0", func(c *Config) { c.BlockSize = 0 }, "block-size"},
		{"vocab 1", func(c *Config) { c.VocabSize = 1 }, "vocab"},
		{"negative mlp", func(c *Config) { c.MLPHidden = -1 }, "mlp-hidden"},
		{"unknown mode", func(c *Config) { c.QueryMode = "query" }, "unknown query mode"},
		{"NaN scale", func(c *Config) { c.AttnScale = math.NaN() }, "attn-scale"},
		{"too many parameters", func(c *Config) { c.NEmbd, c.VocabSize = 1<<14, 1<<20 }, "more than 2³¹ parameters"},
		{"a size past 2³¹", func(c *Config) { c.NLayer = 1 << 40 }, "more than 2³¹ parameters"},
		// NumParams' ints wrap around to 0 here: C·(V + T + 2 + 2H + 1) = 2⁶⁴ (a damaged checkpoint).
		{"parameter count wrapping to 0", func(c *Config) {
			c.NLayer, c.NHead, c.NEmbd, c.BlockSize, c.MLPHidden, c.VocabSize = 1, 1, 1<<32, 1, 1, 1<<32-6
		}, "more than 2³¹ parameters"},
		{"too many layers", func(c *Config) { c.NLayer = 1 << 20 }, "more than 2³¹ parameters"},
		{"C² overflows an int", func(c *Config) { c.NEmbd, c.NHead = 1<<32, 1 }, "more than 2³¹ parameters"},
		{"V·C overflows an int", func(c *Config) { c.VocabSize = 1 << 60 }, "more than 2³¹ parameters"},
		{"L·H·C overflows an int", func(c *Config) { c.NLayer, c.MLPHidden = 1<<40, 1<<40 }, "more than 2³¹ parameters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			c.edit(&cfg)
			require.ErrorContains(t, cfg.Validate(), c.want)
		})
	}
}

func TestLRSchedule(t *testing.T) {
	tc := DefaultTrainConfig()
	tc.Steps, tc.Warmup, tc.LR, tc.MinLR = 101, 10, 1e-3, 1e-4
	require.InDelta(t, 1e-4, tc.LRAt(0), 1e-12)
	require.InDelta(t, 1e-3, tc.LRAt(9), 1e-12)
	require.InDelta(t, 1e-3, tc.LRAt(10), 1e-12)
	require.InDelta(t, 1e-4, tc.LRAt(100), 1e-12)
	require.InDelta(t, 0.55e-3, tc.LRAt(55), 1e-12)
	for s := 11; s < 101; s++ {
		require.LessOrEqual(t, tc.LRAt(s), tc.LRAt(s-1))
	}
}

func TestBatchTableIsDeterministic(t *testing.T) {
	bt := BatchTable{Seed: 7, NTokens: 1000, B: 4, T: 16}
	a, b := make([]int, 4), make([]int, 4)
	bt.Offsets(a, 3, 1)
	bt.Offsets(b, 3, 1)
	require.Equal(t, a, b)
	bt.Offsets(b, 3, 0)
	require.NotEqual(t, a, b)
	for s := range 200 {
		bt.Offsets(a, s, 0)
		for _, o := range a {
			require.True(t, o >= 0 && o+bt.T+1 <= bt.NTokens, "offset %d", o)
		}
	}
}
