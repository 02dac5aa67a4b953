package main

import (
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/nn"
)

// withAvailable makes the backends of the test's commands offer avail bytes (or fail with err),
// as a smaller machine would.
func withAvailable(t *testing.T, avail int64, err error) {
	saved := availableMemory
	availableMemory = func(nn.Backend) (int64, error) { return avail, err }
	t.Cleanup(func() { availableMemory = saved })
}

// memoryLineRE is the memory line of a command that computes.
var memoryLineRE = regexp.MustCompile(`(?m)^memory: \d+(\.\d+)? [kMGT]?B planned \(params\+optimizer [\d.]+, activations [\d.]+, logits [\d.]+(, scratch [\d.]+)?, data [\d.]+\) of \d+(\.\d+)? [kMGT]?B available`)

func TestMemoryLine(t *testing.T) {
	data, out := writeData(t), t.TempDir()
	code, stdout, stderr := runCLI(tinyArgs(data, out, "--steps", "1")...)
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, memoryLineRE, stdout)
	require.Less(t, strings.Index(stdout, "memory: "), strings.Index(stdout, "step 0"))

	code, _, stderr = runCLI("sample", "--checkpoint", filepath.Join(out, checkpointFile), "--tokens", "5")
	require.Equal(t, 0, code, stderr)
	require.Regexp(t, memoryLineRE, stderr)

	// A backend that cannot say: the plan is printed, not checked.
	withAvailable(t, 0, errors.New("no idea"))
	code, stdout, stderr = runCLI(tinyArgs(data, t.TempDir(), "--steps", "1")...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "; not checked: no idea\n")
	code, _, stderr = runCLI(tinyArgs(data, t.TempDir(), "--batch-size", "auto")...)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "--batch-size auto needs the available memory: no idea")
}

// TestTooLargeRunsAreRefused runs the commands of issue 13 on a machine with 8 GB available:
// each exits 1 before it allocates, with one line that names the largest part and what to change.
func TestTooLargeRunsAreRefused(t *testing.T) {
	withAvailable(t, 8e9, nil)
	data, out := writeData(t), t.TempDir()
	code, _, stderr := runCLI(tinyArgs(data, out, "--steps", "1")...) // a checkpoint to sample from
	require.Equal(t, 0, code, stderr)
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"train/B=99999999", []string{"train", "--data", data, "--out", t.TempDir(), "--batch-size", "99999999", "--steps", "1"},
			[]string{"kvgpt train: memory: the run needs ", " TB but 8.00 GB is available (largest part: activations, ",
				"a step of 99999999 sequences does not fit at any micro-batch; --batch-size ", " --grad-accum 1 does, with fewer tokens per step"}},
		{"train/B=512/preset=medium", []string{"train", "--preset", "medium", "--data", data, "--out", t.TempDir(), "--batch-size", "512"},
			[]string{"(largest part: activations, ", "--batch-size 64 --grad-accum 8 keeps the same tokens per step (or pass --batch-size auto)"}},
		{"train/C=4096/L=8", []string{"train", "--data", data, "--out", t.TempDir(), "--n-embd", "4096", "--n-layer", "8", "--steps", "1"},
			[]string{"(largest part: params+optimizer, ", "not even --batch-size 1 fits: use a smaller model (--n-embd, --n-layer)"}},
		{"train/B=2^50", []string{"train", "--data", data, "--out", t.TempDir(), "--batch-size", strconv.Itoa(1 << 50)},
			[]string{"need more memory than can be counted", "lower --batch-size or --grad-accum"}},
		{"sample/available=100kB", []string{"sample", "--checkpoint", filepath.Join(out, checkpointFile)},
			[]string{"the checkpoint's model does not fit here"}},
		{"experiment/preset=mac/available=100kB", []string{"experiment", "--preset", "mac", "--data", data, "--backend", "cpu", "--out", t.TempDir()},
			[]string{"pick a smaller --preset"}},
		{"bench/presets=medium/available=100kB", []string{"bench", "--backend", "cpu", "--presets", "medium", "--ops", "none", "--pytorch", "off"},
			[]string{"measure smaller --presets"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if strings.HasSuffix(c.name, "available=100kB") {
				withAvailable(t, 1e5, nil)
			}
			code, _, stderr := runCLI(c.args...)
			require.Equal(t, 1, code, stderr)
			for _, w := range c.want {
				require.Contains(t, stderr, w)
			}
			last := stderr[strings.LastIndex(strings.TrimSuffix(stderr, "\n"), "\n")+1:]
			require.Regexp(t, `^kvgpt \w+: memory: .*\n$`, last, "one line")
			require.NotContains(t, stderr, "goroutine")
		})
	}
}

// TestBatchSizeAuto trains the default preset's model with 64 sequences per step (--batch-size
// auto --grad-accum 4 over its B=16) where B=64 and B=32 do not fit but B=16 does.
func TestBatchSizeAuto(t *testing.T) {
	data := writeData(t)
	tok, err := gpt.NewTokenizer("byte", "")
	require.NoError(t, err)
	p, err := gpt.LookupPreset(gpt.DefaultPreset)
	require.NoError(t, err)
	cfg := p.ModelConfig(gpt.Identity, tok.VocabSize())
	need := func(B, GA int) int64 {
		tc := p.Train
		tc.BatchSize, tc.GradAccum, tc.EvalBatches = B, GA, 1
		plan, err := gpt.PlanTraining(cfg, tc, 0)
		require.NoError(t, err)
		return plan.Need()
	}
	avail := int64(float64(need(16, 4))/memoryMargin) + 100
	require.Greater(t, need(32, 2), withMargin(avail))
	withAvailable(t, avail, nil)
	code, stdout, stderr := runCLI("train", "--data", data, "--out", t.TempDir(), "--batch-size", "auto", "--grad-accum", "4",
		"--steps", "1", "--eval-batches", "1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "batch size auto: B=16 × grad-accum 4 = 64 sequences per step, the largest micro-batch that fits within 80% of "+gpt.FormatBytes(avail)+"\n")
	require.Contains(t, stdout, "train: 1 steps × 8192 tokens (B=16 × T=128 × accum 4)")
	require.Regexp(t, memoryLineRE, stdout)
	t.Logf("%s available:\n%s", gpt.FormatBytes(avail), stdout[:strings.Index(stdout, "data: ")])

	// Where not even one sequence per micro-batch fits, auto refuses with the model to blame.
	withAvailable(t, 1e6, nil)
	code, _, stderr = runCLI("train", "--data", data, "--out", t.TempDir(), "--batch-size", "auto")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not even --batch-size 1 fits")
}
