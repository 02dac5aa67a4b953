package gpt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nlpodyssey/safetensors"
	"github.com/stretchr/testify/require"
)

// testText is a small, learnable corpus: a few sentences repeated with variations.
func testText() string {
	var sb strings.Builder
	words := []string{"the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "it"}
	for i := 0; sb.Len() < 20000; i++ {
		sb.WriteString(words[i%len(words)])
		sb.WriteString(words[(i*7)%len(words)])
		if i%5 == 4 {
			sb.WriteString(".\n")
		} else {
			sb.WriteByte(' ')
		}
	}
	return sb.String()
}

func newTestTrainer(t *testing.T, mode QueryMode, steps int) *Trainer {
	t.Helper()
	tok, err := NewTokenizer("char", testText())
	require.NoError(t, err)
	cfg := Config{NLayer: 2, NHead: 2, NEmbd: 16, BlockSize: 16, VocabSize: tok.VocabSize(), QueryMode: mode}
	ds, err := NewDataset("test text", testText(), tok, cfg.BlockSize)
	require.NoError(t, err)
	m, err := New(cfg, newCPU(t), 7)
	require.NoError(t, err)
	tc := DefaultTrainConfig()
	tc.BatchSize, tc.GradAccum, tc.Steps, tc.Warmup, tc.LR, tc.MinLR = 4, 2, steps, 5, 1e-2, 1e-3
	tc.EvalEvery, tc.EvalBatches = 10, 2
	tr, err := NewTrainer(m, tc, ds)
	require.NoError(t, err)
	return tr
}

func TestTrainingReducesLoss(t *testing.T) {
	for _, mode := range []QueryMode{Baseline, Identity} {
		t.Run("mode="+string(mode)+"/B=4/T=16/C=16", func(t *testing.T) {
			tr := newTestTrainer(t, mode, 60)
			v0, err := tr.Evaluate()
			require.NoError(t, err)
			var ms []Metrics
			require.NoError(t, tr.Run(context.Background(), func(m Metrics) error { ms = append(ms, m); return nil }))
			require.Len(t, ms, 60)
			last := ms[len(ms)-1]
			require.NotNil(t, last.ValLoss)
			require.Equal(t, 60, last.Step)
			require.Equal(t, int64(60*tr.TokensPerStep()), last.Tokens)
			require.Less(t, *last.ValLoss, v0-0.8, "validation loss should fall well below its start %.3f", v0)
			require.NotNil(t, ms[9].ValLoss)
			require.Nil(t, ms[10].ValLoss)
			require.Greater(t, last.TokensPerSec, 0.0)
		})
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	tr := newTestTrainer(t, Identity, 50)
	ctx, cancel := context.WithCancel(context.Background())
	err := tr.Run(ctx, func(m Metrics) error {
		if m.Step == 3 {
			cancel()
		}
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, 3, tr.StepsDone())
}

func downloadAll(tr *Trainer) (p, m, v []float32) {
	mod := tr.Model
	p, m, v = make([]float32, mod.params.N), make([]float32, mod.params.N), make([]float32, mod.params.N)
	mod.b.Download(p, mod.params)
	mod.b.Download(m, mod.m)
	mod.b.Download(v, mod.v)
	return
}

// TestResumeIsExact trains N steps straight, and k steps, a checkpoint, a fresh model restored
// from it and N−k more: parameters and AdamW moments must be bit-identical.
func TestResumeIsExact(t *testing.T) {
	const N, k = 12, 5
	for _, mode := range []QueryMode{Baseline, Identity} {
		t.Run("mode="+string(mode)+"/N=12/k=5", func(t *testing.T) {
			straight := newTestTrainer(t, mode, N)
			require.NoError(t, straight.Run(context.Background(), nil))

			first := newTestTrainer(t, mode, N)
			for range k {
				_, err := first.Step()
				require.NoError(t, err)
			}
			path := filepath.Join(t.TempDir(), "ckpt.safetensors")
			require.NoError(t, first.Save(path, nil))
			ck, err := LoadCheckpoint(path)
			require.NoError(t, err)
			require.Equal(t, k, ck.Step)
			second := newTestTrainer(t, mode, N) // fresh weights, overwritten by Restore
			require.NoError(t, ck.Restore(second))
			require.Equal(t, k, second.StepsDone())
			require.NoError(t, second.Run(context.Background(), nil))

			p1, m1, v1 := downloadAll(straight)
			p2, m2, v2 := downloadAll(second)
			require.Equal(t, p1, p2, "parameters")
			require.Equal(t, m1, m2, "first moments")
			require.Equal(t, v1, v2, "second moments")
		})
	}
}

// TestCheckpointReadsWithIndependentReader reads a checkpoint with github.com/nlpodyssey/safetensors.
func TestCheckpointReadsWithIndependentReader(t *testing.T) {
	tr := newTestTrainer(t, Identity, 3)
	require.NoError(t, tr.Run(context.Background(), nil))
	path := filepath.Join(t.TempDir(), "ckpt.safetensors")
	require.NoError(t, tr.Save(path, map[string]string{"tokenizer": "char"}))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	st, err := safetensors.Deserialize(raw)
	require.NoError(t, err)
	_, md, err := safetensors.ReadMetadata(raw)
	require.NoError(t, err)
	meta := md.Metadata()
	require.Equal(t, "char", meta["tokenizer"])
	require.Equal(t, "3", meta["step"])
	var cfg Config
	require.NoError(t, json.Unmarshal([]byte(meta["config"]), &cfg))
	require.Equal(t, tr.Model.Config, cfg)

	ts := tr.Model.ParamTensors()
	require.Equal(t, len(ts)+3, st.Len(), "parameters, two optimizer tensors and the checksum")
	for _, want := range ts {
		tv, ok := st.Tensor(want.Name)
		require.True(t, ok, want.Name)
		require.Equal(t, "F32", tv.DType().String())
		shape := make([]int, len(tv.Shape()))
		for i, d := range tv.Shape() {
			shape[i] = int(d)
		}
		require.Equal(t, want.Shape, shape, want.Name)
		data := tv.Data()
		got := make([]float32, len(data)/4)
		for i := range got {
			got[i] = math.Float32frombits(uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24)
		}
		p, err := tr.Model.Param(want.Name)
		require.NoError(t, err)
		require.Equal(t, p, got, want.Name)
	}
	_, ok := st.Tensor(ExpAvgName)
	require.True(t, ok)
	crc, ok := st.Tensor(ChecksumName)
	require.True(t, ok)
	require.Equal(t, "U8", crc.DType().String())
	require.Equal(t, crc32.Checksum(raw[:len(raw)-4], crc32.MakeTable(crc32.Castagnoli)), binary.LittleEndian.Uint32(crc.Data()),
		"the checksum is the CRC-32C of the file before it")
}

func TestCheckpointErrors(t *testing.T) {
	tr := newTestTrainer(t, Identity, 3)
	require.NoError(t, tr.Run(context.Background(), nil))
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	require.NoError(t, tr.Save(path, nil))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	flip := func(i int) []byte {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x40
		return b
	}
	for _, c := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "does not exist"},
		{"empty", write("empty", nil), "shorter than the 8-byte header"},
		{"truncated data", write("trunc", raw[:len(raw)-100]), "truncated"},
		{"truncated header", write("trunch", raw[:50]), "exceeds the file"},
		{"corrupted data", write("flipdata", flip(len(raw)-10)), "checksum"},
		{"corrupted header", write("fliphead", flip(12)), "damaged"},
		{"not a checkpoint", write("text", []byte(strings.Repeat("hello world ", 20))), "damaged"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadCheckpoint(c.path)
			require.ErrorContains(t, err, c.want)
		})
	}
	t.Run("another mode", func(t *testing.T) {
		ck, err := LoadCheckpoint(path)
		require.NoError(t, err)
		other := newTestTrainer(t, Baseline, 3)
		err = ck.Restore(other)
		require.ErrorContains(t, err, "another configuration")
		require.ErrorContains(t, err, "mode identity vs baseline")
	})
	t.Run("another size", func(t *testing.T) {
		ck, err := LoadCheckpoint(path)
		require.NoError(t, err)
		cfg := tr.Model.Config
		cfg.NEmbd = 32
		m, err := New(cfg, newCPU(t), 1)
		require.NoError(t, err)
		require.ErrorContains(t, ck.LoadWeights(m), "n-embd 16 vs 32")
	})
	t.Run("save into a missing directory leaves nothing", func(t *testing.T) {
		err := tr.Save(filepath.Join(dir, "no", "such", "dir", "c.safetensors"), nil)
		require.ErrorContains(t, err, "cannot write checkpoint")
	})
	t.Run("no temporary files left", func(t *testing.T) {
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		for _, e := range entries {
			require.False(t, strings.Contains(e.Name(), ".tmp"), e.Name())
		}
	})
}

// TestNonFiniteLossStops poisons a weight with NaN: the step reports the divergence, names the
// step and leaves the parameters as they were.
func TestNonFiniteLossStops(t *testing.T) {
	tr := newTestTrainer(t, Identity, 10)
	_, err := tr.Step()
	require.NoError(t, err)
	w, err := tr.Model.Param("transformer.h.0.mlp.c_fc.weight")
	require.NoError(t, err)
	w[3] = float32(math.NaN())
	require.NoError(t, tr.Model.SetParam("transformer.h.0.mlp.c_fc.weight", w))
	before, _, _ := downloadAll(tr)
	err = tr.Run(context.Background(), nil)
	var nf *NonFiniteError
	require.True(t, errors.As(err, &nf), "got %v", err)
	require.Equal(t, 2, nf.Step)
	require.ErrorContains(t, err, "step 2")
	require.Equal(t, 1, tr.StepsDone())
	after, _, _ := downloadAll(tr)
	for i := range before { // NaN ≠ NaN: compare bits
		require.Equal(t, math.Float32bits(before[i]), math.Float32bits(after[i]))
	}
}

func TestDataErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadTextFile(filepath.Join(dir, "missing.txt"), 0)
	require.ErrorContains(t, err, "does not exist")
	empty := filepath.Join(dir, "empty.txt")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	_, err = ReadTextFile(empty, 0)
	require.ErrorContains(t, err, "is empty")
	_, err = ReadTextFile(dir, 0)
	require.ErrorContains(t, err, "is a directory")

	_, err = NewDataset("short.txt", strings.Repeat("ab", 50), ByteTokenizer{}, 16)
	require.ErrorContains(t, err, "too short for block size 16")
	_, err = NewDataset("x", "", ByteTokenizer{}, 16)
	require.ErrorContains(t, err, "empty")
	_, err = NewTokenizer("word", "x")
	require.ErrorContains(t, err, "unknown vocabulary")
	ds, err := NewDataset("ok", strings.Repeat("abcdefghij", 100), ByteTokenizer{}, 16)
	require.NoError(t, err)
	require.Equal(t, 100, ds.Val.Len())
	require.Equal(t, 900, ds.Train.Len())
	require.Equal(t, int32('a'), ds.Val.Int32s()[0], "the split is the last 10%")
}

func TestTokenizers(t *testing.T) {
	text := "héllo, world\n"
	ct, err := NewCharTokenizer(text)
	require.NoError(t, err)
	require.Equal(t, 10, ct.VocabSize())
	ids, err := ct.Encode(text)
	require.NoError(t, err)
	require.Equal(t, text, ct.Decode(ids))
	_, err = ct.Encode("xyz")
	require.ErrorContains(t, err, "not in the vocabulary")
	again, err := CharTokenizerFromChars(string(ct.Chars))
	require.NoError(t, err)
	require.Equal(t, ct.Chars, again.Chars)
	bt := ByteTokenizer{}
	bids, _ := bt.Encode(text)
	require.Len(t, bids, len(text))
	require.Equal(t, text, bt.Decode(bids))
}

func TestGoCorpus(t *testing.T) {
	root, err := GoRoot()
	require.NoError(t, err)
	text, source, err := GoCorpus(root, 200_000)
	require.NoError(t, err)
	require.Len(t, text, 200_000)
	require.Contains(t, source, "Go standard library")
	require.Contains(t, text, "package ")
	again, _, err := GoCorpus(root, 200_000)
	require.NoError(t, err)
	require.Equal(t, text, again, "deterministic file order")
	_, _, err = GoCorpus(t.TempDir(), 1000)
	require.Error(t, err)
}

// TestGradientAccumulation: two half-batches through Backward accumulate twice the gradient of
// the mean loss of the whole batch.
func TestGradientAccumulation(t *testing.T) {
	cfg := tinyConfig(Identity)
	const B, T = 4, 6
	m, err := New(cfg, newCPU(t), 2)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(5, 6))
	in, tg := randomTokens(rng, B*T, cfg.VocabSize), randomTokens(rng, B*T, cfg.VocabSize)
	grads := func() []float32 {
		var all []float32
		for _, ts := range m.GradTensors() {
			g, err := m.Grad(ts.Name)
			require.NoError(t, err)
			all = append(all, g...)
		}
		return all
	}
	m.ZeroGrad()
	_, err = m.Forward(in, tg, B, T)
	require.NoError(t, err)
	require.NoError(t, m.Backward())
	whole := grads()
	m.ZeroGrad()
	h := B / 2 * T
	for _, part := range [][2]int{{0, h}, {h, 2 * h}} {
		_, err = m.Forward(in[part[0]:part[1]], tg[part[0]:part[1]], B/2, T)
		require.NoError(t, err)
		require.NoError(t, m.Backward())
	}
	halves := grads()
	for i := range whole {
		require.InDelta(t, 2*whole[i], halves[i], 1e-5+1e-4*math.Abs(float64(whole[i])), "element %d", i)
	}
}

// TestSameBatchesAcrossModes: trainers of both modes with the same seed and batch shape draw the
// same token batches, step after step.
func TestSameBatchesAcrossModes(t *testing.T) {
	a, b := newTestTrainer(t, Baseline, 5), newTestTrainer(t, Identity, 5)
	for s := range 5 {
		a.loadBatch(s)
		b.loadBatch(s)
		require.Equal(t, a.hostIn, b.hostIn)
		require.Equal(t, a.hostTg, b.hostTg)
	}
	c := newTestTrainer(t, Identity, 5)
	c.Table.Seed++
	c.loadBatch(4)
	require.NotEqual(t, b.hostIn, c.hostIn)
}
