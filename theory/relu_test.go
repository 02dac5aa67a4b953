package theory

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWideSkipFreeIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, s := range []struct{ d, m int }{{1, 1}, {3, 5}, {8, 16}} {
		t.Run(fmt.Sprintf("d=%d/m=%d", s.d, s.m), func(t *testing.T) {
			b := RandomResidualBlock(rng, s.d, s.m)
			X := Randn(rng, 50, s.d, 1)
			w := WideSkipFree(b)
			require.Equal(t, s.m+2*s.d, w.Width())
			requireClose(t, b.Apply(X), w.Apply(X), "width m+2d construction")
		})
	}
}

func TestConditionBlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	const d, m = 4, 9
	c := ConditionBlock(rng, d, m)
	gap, S, exhaustive := IdentityPathGap(c.W1, c.W2, -1)
	require.True(t, exhaustive)
	require.Less(t, gap, 1e-12)
	require.GreaterOrEqual(t, len(S), d)
	X := Randn(rng, 50, d, 1)
	requireClose(t, c.Apply(X), SkipFreeEquivalent(c, S).Apply(X), "width m construction for a block that meets the condition")

	// Random blocks are far from the condition, and then the sign flip does not work.
	for i := 0; i < 5; i++ {
		b := RandomResidualBlock(rng, d, m)
		gap, S, _ := IdentityPathGap(b.W1, b.W2, -1)
		require.Greater(t, gap, 0.1, "random block %d", i)
		require.Greater(t, RelError(SkipFreeEquivalent(b, S), b, X), 1e-3)
	}
}

// TestIdentityPathGapSearch checks the local search (used above 22 units) against a case with a
// known exact answer, and the exhaustive search against the local search on a small random case.
func TestIdentityPathGapSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	w := WideSkipFree(RandomResidualBlock(rng, 4, 16)) // 24 units, of which the 4 "+I" units carry I
	gap, S, exhaustive := IdentityPathGap(w.W1, w.W2, 1)
	require.False(t, exhaustive)
	require.Less(t, gap, 1e-12, "set %v", S)

	a, b := Randn(rng, 12, 3, 1), Randn(rng, 3, 12, 1)
	gx, _, ex := IdentityPathGap(a, b, -1)
	require.True(t, ex)
	in := make([]bool, 12)
	for i := range in {
		in[i] = true
	}
	require.LessOrEqual(t, gx, gapOf(a, b, in, -1)+1e-12, "exhaustive search must beat the full set")
}

// TestFitFloor is the numerical content of `kvgpt expressivity`: fitting a random residual block,
// a skip-free MLP of width m+2d gets close to zero error while width m stays above a floor.
func TestFitFloor(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	const d, m = 3, 6
	b := RandomResidualBlock(rng, d, m)
	cfg := FitConfig{Samples: 256, Steps: 2000, LR: 0.03}
	best := func(width int) FitResult {
		var r FitResult
		for restart := uint64(0); restart < 2; restart++ {
			cfg.Width = width
			f := FitSkipFree(rand.New(rand.NewPCG(29, restart)), b, cfg)
			if restart == 0 || f.RelErr < r.RelErr {
				r = f
			}
		}
		return r
	}
	narrow, wide := best(m), best(m+2*d)
	t.Logf("d=%d m=%d: width %d error %.3g, width %d error %.3g", d, m, m, narrow.RelErr, m+2*d, wide.RelErr)
	require.Less(t, wide.RelErr, 1e-3, "width m+2d can represent the block exactly")
	require.Greater(t, narrow.RelErr, 1e-4, "width m cannot represent a random block")
	require.Greater(t, narrow.RelErr, 10*wide.RelErr)
	gw, _, _ := IdentityPathGap(wide.Net.W1, wide.Net.W2, 1)
	gn, _, _ := IdentityPathGap(narrow.Net.W1, narrow.Net.W2, 1)
	require.Less(t, gw, gn, "the wide fit carries an identity path")
}

func TestRunExpressivityWritesFiles(t *testing.T) {
	cfg := ExpressivityConfig{D: 2, M: 3, Blocks: 2, Restarts: 1, Steps: 200, Samples: 64, LR: 0.03, Seed: 3}
	res, err := RunExpressivity(cfg, nil)
	require.NoError(t, err)
	require.Len(t, res.Blocks, 3)
	dir := t.TempDir()
	require.NoError(t, res.WriteFiles(dir))
	for _, f := range []string{"table.txt", "results.json", "expressivity.png"} {
		st, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err)
		require.Positive(t, st.Size(), f)
	}
	table, err := os.ReadFile(filepath.Join(dir, "table.txt"))
	require.NoError(t, err)
	for _, col := range []string{"block gap", "exact construction", "rel. error floor", "fitted gap", "control"} {
		require.True(t, strings.Contains(string(table), col), "table lacks %q", col)
	}

	cfg.M = 1
	_, err = RunExpressivity(cfg, nil)
	require.ErrorContains(t, err, "m must be ≥ d")
}
