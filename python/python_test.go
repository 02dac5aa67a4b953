package python_test

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/bench"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/python"
)

// torchPython returns a python3 with torch (kvgpt_torch imports it), skipping the test where there
// is none — except in CI (CI set), where .ci/run installs python3-torch and the test must run.
func torchPython(t *testing.T) string {
	t.Helper()
	py, err := bench.FindTorchPython(context.Background())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %v", err)
		}
		t.Skip(err)
	}
	return py
}

// runPython runs the Python program src with the embedded kvgpt_torch importable, and returns
// its standard output.
func runPython(t *testing.T, py, src string, args ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, python.Write(dir))
	prog := filepath.Join(dir, "prog.py")
	require.NoError(t, os.WriteFile(prog, []byte(src), 0o644))
	cmd := exec.Command(py, append([]string{prog}, args...)...)
	var stderr []byte
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = ee.Stderr
	}
	require.NoError(t, err, "%s", stderr)
	return out
}

// TestBatchOffsetsMatchGo: kvgpt_torch.data.batch_offsets draws the same offsets as
// gpt.BatchTable, for seeds, steps and micro-batches at the ends of their ranges and split sizes
// n = NTokens − T of every kind: 1, powers of two (masked), small and huge (Lemire's rejection
// loop runs for n near 2⁶³).
func TestBatchOffsetsMatchGo(t *testing.T) {
	py := torchPython(t)
	type tcase struct {
		Seed    uint64 `json:"seed"`
		NTokens int    `json:"n_tokens"`
		B       int    `json:"b"`
		T       int    `json:"t"`
		Step    int    `json:"step"`
		Micro   int    `json:"micro"`
	}
	var cases []tcase
	rng := rand.New(rand.NewPCG(1, 2))
	for _, seed := range []uint64{0, 1337, math.MaxUint64} {
		for _, n := range []int{1, 2, 1 << 20, 3, 1003855 - 128, 1<<62 + 12345, math.MaxInt64 - 64} {
			for _, sm := range [][2]int{{0, 0}, {199, 1}, {65535, 65535}, {rng.IntN(1 << 20), rng.IntN(8)}} {
				cases = append(cases, tcase{seed, n + 64, 16, 64, sm[0], sm[1]})
			}
		}
	}
	in, err := json.Marshal(cases)
	require.NoError(t, err)
	out := runPython(t, py, `
import json, sys
from kvgpt_torch.data import batch_offsets
cases = json.loads(sys.argv[1])
print(json.dumps([batch_offsets(c["seed"], c["n_tokens"], c["b"], c["t"], c["step"], c["micro"]) for c in cases]))
`, string(in))
	var got [][]int
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got, len(cases))
	for i, c := range cases {
		want := make([]int, c.B)
		gpt.BatchTable{Seed: c.Seed, NTokens: c.NTokens, B: c.B, T: c.T}.Offsets(want, c.Step, c.Micro)
		require.Equal(t, want, got[i], "case %+v", c)
	}
}

// TestCRC32CMatchesGo: kvgpt_torch.checkpoint.crc32c is Go's CRC-32C (Castagnoli) on lengths
// around its byte-loop and chunked paths.
func TestCRC32CMatchesGo(t *testing.T) {
	py := torchPython(t)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var paths []string
	want := map[string]uint32{}
	for _, n := range []int{0, 1, 9, 1<<16 - 1, 1 << 16, 3<<16 + 7, 1<<22 + 13} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		p := filepath.Join(dir, fmt.Sprintf("n=%d", n))
		require.NoError(t, os.WriteFile(p, b, 0o644))
		paths = append(paths, p)
		want[p] = crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))
	}
	out := runPython(t, py, `
import json, sys
from kvgpt_torch.checkpoint import crc32c
print(json.dumps({p: crc32c(open(p, "rb").read()) for p in sys.argv[1:]}))
`, paths...)
	var got map[string]uint32
	require.NoError(t, json.Unmarshal(out, &got))
	require.Equal(t, want, got)
}
