package shaders_test

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/shaders"
)

// TestGeometryMatchesMetal checks that the Go side of each op dispatches its kernels with the
// geometry they are written for: the tile and threadgroup sizes that matmul.metal and
// common.metal define as constants (gemm_tile's 64×64 tiles on 128 threads, the 256-thread row
// kernels), and the sizes that attention.metal and layernorm.metal write as literals (a row per
// simdgroup of 32 lanes; LayerNorm's weight gradient on (32, 8) threads per 32 columns).
//
// The CPU backend's tiles (nn's gemm and attention tiles, the C kernels' register tiles) share
// nothing with these: no result depends on them.
func TestGeometryMatchesMetal(t *testing.T) {
	consts := metalConstants(t, shaders.Source())
	for name, goValue := range shaders.MetalConstants {
		require.Contains(t, consts, name)
		require.Equal(t, consts[name], goValue, "%s of the .metal sources vs the Go constant", name)
	}

	// Row kernels: every loop over a row strides by the threadgroup, one simdgroup.
	laneLoop := regexp.MustCompile(`for \(uint (\w+) = lane; [^;]*; (\w+) \+= (\d+)\)`)
	for file, threads := range map[string]int{
		"attention.metal": shaders.AttnRowThreads,
		"layernorm.metal": shaders.LayerNormRowThreads,
	} {
		src := readMetal(t, file)
		loops := laneLoop.FindAllStringSubmatch(src, -1)
		require.NotEmpty(t, loops, file)
		for _, m := range loops {
			require.Equal(t, m[1], m[2], "%s: %s", file, m[0])
			require.Equal(t, strconv.Itoa(threads), m[3], "%s: %s strides by other than the Go threadgroup size", file, m[0])
		}
	}

	// layernorm_backward_dw: a [rows][cols] tile of partial sums, cols columns per threadgroup,
	// each thread summing every rows-th row.
	src := readMetal(t, "layernorm.metal")
	rows, cols := strconv.Itoa(shaders.LayerNormDWRows), strconv.Itoa(shaders.LayerNormDWCols)
	for _, want := range []string{
		`threadgroup float part\[` + rows + `\]\[` + cols + `\];`,
		`const uint c = tg\.x \* ` + cols + ` \+ tid\.x;`,
		`for \(uint r = tid\.y; r < p\.N; r \+= ` + rows + `\)`,
	} {
		require.Truef(t, regexp.MustCompile(want).MatchString(src), "layernorm.metal has no match for %s", want)
	}
}

// readMetal returns the source of one of the .metal files.
func readMetal(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	require.NoError(t, err)
	return string(b)
}
