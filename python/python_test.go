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
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/bench"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/python"
	"github.com/kvgpt/kvgpt/tokens"
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

// TestDatasetMatchesGo: kvgpt_torch.data.open_dataset reads the token files kvgpt reads — a
// dataset directory of several uint16 files, one of uint32 tokens, nanoGPT's train.bin and
// val.bin, one llm.c file split 90/10 — and gathers the same training batches (gpt.BatchTable
// over tokens.Seq) and validation sequences as gpt.LoadData and the trainer, across file
// boundaries.
func TestDatasetMatchesGo(t *testing.T) {
	py := torchPython(t)
	rng := rand.New(rand.NewPCG(9, 10))
	ids := func(n, v int) []int32 {
		x := make([]int32, n)
		for i := range x {
			x[i] = int32(rng.IntN(v))
		}
		return x
	}
	root := t.TempDir()
	var paths []string
	for _, c := range []struct {
		name            string
		v               int
		shard           int64
		nanogpt, single bool
	}{
		{name: "gpt2-3-files", v: 50257, shard: 1000},
		{name: "uint32", v: 70000, shard: 1500},
		{name: "nanogpt", v: 50257, nanogpt: true},
		{name: "single", v: 50257, single: true},
	} {
		p := filepath.Join(root, c.name)
		train, val := ids(2600, c.v), ids(700, c.v)
		switch {
		case c.nanogpt:
			require.NoError(t, os.MkdirAll(p, 0o755))
			for name, x := range map[string][]int32{"train.bin": train, "val.bin": val} {
				var b []byte
				for _, id := range x {
					b = append(b, byte(id), byte(id>>8))
				}
				require.NoError(t, os.WriteFile(filepath.Join(p, name), b, 0o644))
			}
		case c.single:
			p += ".bin"
			require.NoError(t, tokens.WriteShard(p, append(train, val...), c.v))
		default:
			w, err := tokens.CreateDir(p, tokens.Meta{Vocab: "gpt2", VocabSize: c.v, Tokenizer: map[string]string{gpt.TokenizerKey: "gpt2"}}, c.shard)
			require.NoError(t, err)
			require.NoError(t, w.Write(tokens.TrainSplit, train, 1))
			require.NoError(t, w.Write(tokens.ValSplit, val, 1))
			require.NoError(t, w.Close())
		}
		paths = append(paths, p)
	}
	const seed, B, T, evalSeqs = 1337, 4, 64, 6
	out := runPython(t, py, `
import json, sys
from kvgpt_torch.data import open_dataset, batch_offsets, val_offsets, gather
res = {}
for p in sys.argv[1:]:
    train, val, meta = open_dataset(p)
    batches = []
    for step, micro in [(0, 0), (1, 0), (7, 3), (1000, 1)]:
        x, y = gather(train, batch_offsets(1337, len(train), 4, 64, step, micro), 64)
        batches.append([x.tolist(), y.tolist()])
    vx, vy = gather(val, val_offsets(len(val), 6, 64), 64)
    res[p] = {"n": [len(train), len(val)], "meta": meta, "batches": batches, "val": [vx.tolist(), vy.tolist()]}
print(json.dumps(res))
`, paths...)
	type result struct {
		N       [2]int            `json:"n"`
		Meta    map[string]string `json:"meta"`
		Batches [][2][][]int32    `json:"batches"`
		Val     [2][][]int32      `json:"val"`
	}
	var got map[string]result
	require.NoError(t, json.Unmarshal(out, &got))
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			var train, val tokens.Seq
			if strings.Contains(p, "uint32") { // no vocabulary of 70,000 tokens to load: the files as they are
				d, err := tokens.OpenDir(p)
				require.NoError(t, err)
				defer d.Close()
				train, val = d.Train, d.Val
			} else {
				ds, _, err := gpt.LoadData(gpt.DataSpec{Path: p, Vocab: "gpt2"}, T)
				require.NoError(t, err)
				defer ds.Close()
				train, val = ds.Train, ds.Val
			}
			ds := struct{ Train, Val tokens.Seq }{train, val}
			r := got[p]
			require.Equal(t, [2]int{ds.Train.Len(), ds.Val.Len()}, r.N)
			seq := func(s tokens.Seq, off int) ([]int32, []int32) {
				x := make([]int32, T+1)
				s.Read(x, off)
				return x[:T], x[1:]
			}
			bt := gpt.BatchTable{Seed: seed, NTokens: ds.Train.Len(), B: B, T: T}
			for k, sm := range [][2]int{{0, 0}, {1, 0}, {7, 3}, {1000, 1}} {
				offs := make([]int, B)
				bt.Offsets(offs, sm[0], sm[1])
				for i, off := range offs {
					x, y := seq(ds.Train, off)
					require.Equal(t, x, r.Batches[k][0][i], "step %d micro %d sequence %d", sm[0], sm[1], i)
					require.Equal(t, y, r.Batches[k][1][i])
				}
			}
			span := ds.Val.Len() - T - 1
			for i := range evalSeqs {
				x, y := seq(ds.Val, i*span/(evalSeqs-1))
				require.Equal(t, x, r.Val[0][i])
				require.Equal(t, y, r.Val[1][i])
			}
		})
	}
}
