package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/bench"
	"github.com/kvgpt/kvgpt/gpt"
)

// writeData writes a small learnable text file and returns its path.
func writeData(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	for i := 0; sb.Len() < 8000; i++ {
		sb.WriteString([]string{"to be or not to be. ", "that is the question.\n", "whether tis nobler. "}[i%3])
	}
	p := filepath.Join(t.TempDir(), "data.txt")
	require.NoError(t, os.WriteFile(p, []byte(sb.String()), 0o644))
	return p
}

// tinyArgs are the flags of a training run that takes a second or two.
func tinyArgs(data, out string, extra ...string) []string {
	args := []string{"train", "--data", data, "--vocab", "char", "--n-layer", "1", "--n-head", "2",
		"--n-embd", "16", "--block-size", "16", "--batch-size", "4", "--steps", "6", "--warmup", "2",
		"--eval-every", "3", "--eval-batches", "1", "--log-every", "1", "--checkpoint-every", "2",
		"--threads", "2", "--out", out}
	return append(args, extra...)
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestTrainAndSample(t *testing.T) {
	data, out := writeData(t), t.TempDir()
	code, stdout, stderr := runCLI(tinyArgs(data, out)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "data: "+data)
	require.Contains(t, stdout, "model: identity")
	require.Regexp(t, `step 0 \| val loss \d+\.\d+ \(ln V = 2\.\d+\)`, stdout)
	require.Regexp(t, `step 6/6 \| loss \d+\.\d+ \| lr [0-9.e+-]+ \| \d+ tok/s \| ETA 0s \| val loss \d+\.\d+`, stdout)

	// metrics: one JSON line per step, validation every 3 steps
	raw, err := os.ReadFile(filepath.Join(out, metricsFile))
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, 6)
	var m gpt.Metrics
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &m))
	require.Equal(t, 3, m.Step)
	require.NotNil(t, m.ValLoss)

	// the loss plot is a real PNG
	f, err := os.Open(filepath.Join(out, plotFile))
	require.NoError(t, err)
	img, err := png.Decode(f)
	f.Close()
	require.NoError(t, err)
	require.Greater(t, img.Bounds().Dx(), 100)

	ck, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
	require.NoError(t, err)
	require.Equal(t, 6, ck.Step)
	require.Equal(t, "char", ck.Meta["tokenizer"])

	code, stdout, stderr = runCLI("sample", "--checkpoint", filepath.Join(out, checkpointFile), "--prompt", "to be", "--tokens", "40", "--top-k", "5")
	require.Equal(t, 0, code, stderr)
	require.True(t, strings.HasPrefix(stdout, "to be"))
	require.Len(t, []rune(strings.TrimSuffix(stdout, "\n")), 45)

	// --temperature 0 is greedy (a --seed would be ignored, and is refused: TestTrainBadInput), and
	// a tiny --top-p at any seed is the same
	sample := func(extra ...string) string {
		args := append([]string{"sample", "--checkpoint", filepath.Join(out, checkpointFile), "--prompt", "to be", "--tokens", "30"}, extra...)
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 0, code, stderr)
		return stdout
	}
	greedy := sample("--temperature", "0")
	require.Equal(t, greedy, sample("--top-p", "1e-9", "--seed", "2"))
	require.Equal(t, greedy, sample("--top-p", "1e-9", "--seed", "3"))
	require.Equal(t, sample("--seed", "4"), sample("--seed", "4", "--top-p", "1"))

	// --resume with more steps continues from step 6 and appends to the metrics, dropping any
	// record written after the checkpoint (as a crash would leave)
	mf, err := os.OpenFile(filepath.Join(out, metricsFile), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = mf.WriteString(`{"step":7,"steps":6,"loss":9}` + "\n")
	require.NoError(t, err)
	require.NoError(t, mf.Close())
	code, stdout, stderr = runCLI("train", "--out", out, "--resume", "--steps", "8", "--log-every", "1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "resumed from")
	require.Contains(t, stdout, "step 8/8")
	raw, err = os.ReadFile(filepath.Join(out, metricsFile))
	require.NoError(t, err)
	lines = strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, 8)
	for i, l := range lines {
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		require.Equal(t, i+1, m.Step)
		require.NotEqual(t, 9.0, m.Loss)
	}
}

// TestTrainInterrupt sends SIGINT, SIGTERM or SIGHUP to the process during training: the run
// stops at a step boundary, writes a loadable checkpoint, with the metrics of every step before
// it, and exits with the shell's code for the signal (128 + its number).
func TestTrainInterrupt(t *testing.T) {
	for _, c := range []struct {
		sig  syscall.Signal
		code int
		says string
	}{
		{syscall.SIGINT, 130, "interrupted (SIGINT)"},
		{syscall.SIGTERM, 143, "terminated (SIGTERM)"},
		{syscall.SIGHUP, 129, "hung up (SIGHUP: the terminal closed)"},
	} {
		t.Run(fmt.Sprintf("signal=%d/exit=%d", c.sig, c.code), func(t *testing.T) {
			data, out := writeData(t), t.TempDir()
			args := tinyArgs(data, out, "--steps", "100000", "--checkpoint-every", "0", "--log-every", "100000", "--eval-every", "0")
			go func() {
				// Wait for training to be under way (the metrics' buffer has filled once), then
				// send the signal.
				for range 600 {
					if b, _ := os.ReadFile(filepath.Join(out, metricsFile)); len(b) > 0 {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				syscall.Kill(os.Getpid(), c.sig)
			}()
			code, stdout, stderr := runCLI(args...)
			require.Equal(t, c.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			require.Contains(t, stderr, "kvgpt train: "+c.says+": stopped after step ")
			require.Contains(t, stderr, "(continue with --resume)")
			ck, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
			require.NoError(t, err)
			require.Greater(t, ck.Step, 0)
			require.Less(t, ck.Step, 100000)
			want := make([]int, ck.Step)
			for i := range want {
				want[i] = i + 1
			}
			require.Equal(t, want, metricsSteps(t, filepath.Join(out, metricsFile)), "every step's metrics, with no progress line to flush them")
		})
	}
}

func TestTrainBadInput(t *testing.T) {
	data := writeData(t)
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	short := filepath.Join(dir, "short.txt")
	require.NoError(t, os.WriteFile(short, []byte("just a few bytes of text"), 0o644))
	notUTF8 := filepath.Join(dir, "latin1.txt")
	require.NoError(t, os.WriteFile(notUTF8, []byte(strings.Repeat("caf\xe9 au lait. ", 600)), 0o644))
	aFile := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(aFile, []byte("x"), 0o644))

	// a finished identity run to resume from in the checkpoint cases
	good := t.TempDir()
	code, _, stderr := runCLI(tinyArgs(data, good)...)
	require.Equal(t, 0, code, stderr)
	ckpt, err := os.ReadFile(filepath.Join(good, checkpointFile))
	require.NoError(t, err)
	withCheckpoint := func(b []byte) string {
		d := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(d, checkpointFile), b, 0o644))
		return d
	}
	corrupted := append([]byte(nil), ckpt...)
	corrupted[len(corrupted)-7] ^= 0xff

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"missing data file", tinyArgs(filepath.Join(dir, "nope.txt"), t.TempDir()), "does not exist"},
		{"empty data file", tinyArgs(empty, t.TempDir()), "is empty"},
		{"data file not UTF-8 for --vocab char", tinyArgs(notUTF8, t.TempDir()), "gpt: data " + notUTF8 + " (0.01 MB): --vocab char needs UTF-8 text: byte 0xe9 at offset 3 is not UTF-8"},
		{"too-short data file", tinyArgs(short, t.TempDir()), "too short for block size 16"},
		{"block size larger than the data", tinyArgs(data, t.TempDir(), "--block-size", "4096"), "too short for block size 4096"},
		{"n-embd not divisible by n-head", tinyArgs(data, t.TempDir(), "--n-head", "3"), "n-embd 16 is not divisible by n-head 3"},
		{"unknown mode", tinyArgs(data, t.TempDir(), "--mode", "query"), "unknown query mode"},
		{"unknown vocab", tinyArgs(data, t.TempDir(), "--vocab", "word"), "unknown vocabulary"},
		{"unknown backend", tinyArgs(data, t.TempDir(), "--backend", "tpu"), `unknown --backend "tpu"`},
		{"negative lr", tinyArgs(data, t.TempDir(), "--lr", "-1"), "lr must be"},
		{"zero batch", tinyArgs(data, t.TempDir(), "--batch-size", "0"), "batch-size must be"},
		{"unwritable output directory", tinyArgs(data, filepath.Join(aFile, "out")), "cannot create output directory"},
		{"resume without checkpoint", tinyArgs(data, t.TempDir(), "--resume"), "does not exist"},
		{"truncated checkpoint", []string{"train", "--resume", "--out", withCheckpoint(ckpt[:len(ckpt)/2])}, "truncated"},
		{"corrupted checkpoint", []string{"train", "--resume", "--out", withCheckpoint(corrupted)}, "corrupted"},
		{"checkpoint from another mode", []string{"train", "--resume", "--mode", "baseline", "--out", withCheckpoint(ckpt)}, "another configuration"},
		{"checkpoint from another size", []string{"train", "--resume", "--n-embd", "32", "--out", withCheckpoint(ckpt)}, "another configuration"},
		{"sample: truncated checkpoint", []string{"sample", "--checkpoint", filepath.Join(withCheckpoint(ckpt[:100]), checkpointFile)}, "truncated"},
		{"sample: negative temperature", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--temperature", "-1"}, "temperature must be a finite number ≥ 0 (0: greedy), got -1"},
		{"sample: top-p 0", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--top-p", "0"}, "--top-p must be in (0, 1], got 0"},
		{"sample: top-p above 1", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--top-p", "1.5"}, "top-p must be in (0, 1], got 1.5"},
		{"sample: negative tokens", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--tokens", "-1"}, "tokens must be ≥ 0, got -1"},
		{"sample: negative top-k", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--top-k", "-1"}, "top-k must be ≥ 0, got -1"},
		// The memory plan refuses these before gpt's own size checks (gpt's tests cover those).
		{"absurd batch size", tinyArgs(data, t.TempDir(), "--batch-size", "99999999"), "a step of 99999999 sequences does not fit at any micro-batch"},
		{"absurd grad-accum", tinyArgs(data, t.TempDir(), "--grad-accum", "9223372036854775807"), "need more memory than can be counted"},
		{"absurd model", tinyArgs(data, t.TempDir(), "--n-embd", "4294967296", "--n-head", "1"), "more than 2³¹ parameters"},
		{"sample: prompt not UTF-8", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--prompt", "to \xff"}, "prompt: not valid UTF-8 text, and the checkpoint's tokens are characters"},
		{"sample: prompt outside the vocabulary", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--prompt", "XYZ€"}, "not in the vocabulary"},
		{"stray argument", []string{"train", "extra"}, "unexpected argument"},
		{"unknown preset", tinyArgs(data, t.TempDir(), "--preset", "huge"), `--preset: gpt: unknown preset "huge" (want one of micro, tiny, default, small,`},
		{"preset without its data", []string{"train", "--preset", "shakespeare-char", "--out", t.TempDir()}, "preset shakespeare-char needs --data FILE"},
		{"negative threads", tinyArgs(data, t.TempDir(), "--threads", "-1"), "--threads must be ≥ 0"},
		{"resume past the last step", []string{"train", "--resume", "--steps", "3", "--out", withCheckpoint(ckpt)}, "past the run's 3 steps"},
		{"preset and resume", []string{"train", "--resume", "--preset", "small", "--out", good}, "--preset and --resume conflict"},
		{"checkpoint from another vocabulary", []string{"train", "--resume", "--vocab", "byte", "--out", withCheckpoint(ckpt)}, "another configuration: its tokens are char, --vocab says byte"},
		{"sample: no checkpoint", []string{"sample", "--checkpoint", filepath.Join(dir, "none.safetensors")}, "does not exist: train a model with kvgpt train"},
		{"sample: a directory", []string{"sample", "--checkpoint", dir}, "checkpoint " + dir + " is a directory, not a regular file"},
		{"sample: greedy with top-k", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--temperature", "0", "--top-k", "5"}, "--top-k 5 would be ignored: --temperature 0 always takes the most likely token (drop one of them)"},
		{"sample: greedy with a seed", []string{"sample", "--checkpoint", filepath.Join(good, checkpointFile), "--temperature", "0", "--seed", "7"}, "--seed 7 would be ignored"},
		{"an existing run", tinyArgs(data, good), "output directory " + good + " holds a run (ckpt.safetensors at step 6, metrics.jsonl of "},
		{"resume and overwrite", []string{"train", "--resume", "--overwrite", "--out", good}, "--resume and --overwrite conflict"},
		{"corpus-bytes with data", tinyArgs(data, t.TempDir(), "--corpus-bytes", "1000"), "--corpus-bytes 1000 sizes the default Go corpus, which --data " + data + " replaces: drop one of them"},
		{"bad train setting before the data is read", tinyArgs(filepath.Join(dir, "nope.txt"), t.TempDir(), "--warmup", "-1"), "warmup"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(c.args...)
			require.NotEqual(t, 0, code)
			require.Contains(t, stderr, c.want)
			require.NotContains(t, stderr, "panic")
		})
	}

	// The runs that failed on a checkpoint left it untouched.
	after, err := os.ReadFile(filepath.Join(good, checkpointFile))
	require.NoError(t, err)
	require.Equal(t, ckpt, after)
}

// TestTrainRefusesAnExistingRun: a new run on an --out that holds one is refused, naming the
// run and the flags that would continue or replace it, and touches nothing there; --overwrite
// replaces it (nothing of the old run is left), --resume continues it.
func TestTrainRefusesAnExistingRun(t *testing.T) {
	data, out := writeData(t), t.TempDir()
	code, _, stderr := runCLI(tinyArgs(data, out, "--steps", "4")...)
	require.Equal(t, 0, code, stderr)
	files := func() map[string]string {
		m := map[string]string{}
		for _, name := range []string{checkpointFile, metricsFile, plotFile} {
			b, err := os.ReadFile(filepath.Join(out, name))
			require.NoError(t, err)
			m[name] = string(b)
		}
		return m
	}
	before := files()
	st, err := os.Stat(filepath.Join(out, metricsFile))
	require.NoError(t, err)

	code, _, stderr = runCLI(tinyArgs(data, out, "--mode", "baseline")...)
	require.Equal(t, 1, code)
	require.Equal(t, fmt.Sprintf("kvgpt train: output directory %s holds a run (ckpt.safetensors at step 4, metrics.jsonl of %s): pass --resume to continue it, --overwrite to replace it, or another --out\n",
		out, gpt.FormatBytes(st.Size())), stderr)
	require.Equal(t, before, files(), "the refused run touched nothing")

	code, stdout, stderr := runCLI(tinyArgs(data, out, "--mode", "baseline", "--steps", "2", "--overwrite")...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "overwrite: removed the run that "+out+" held (ckpt.safetensors at step 4, metrics.jsonl of ")
	ck, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
	require.NoError(t, err)
	require.Equal(t, gpt.Baseline, ck.Config.QueryMode)
	require.Equal(t, []int{1, 2}, metricsSteps(t, filepath.Join(out, metricsFile)))

	code, _, stderr = runCLI("train", "--resume", "--steps", "3", "--out", out)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, []int{1, 2, 3}, metricsSteps(t, filepath.Join(out, metricsFile)))
}

// TestTrainDivergence drives the loss to NaN with an absurd learning rate: the run stops with an
// error that names the step, and the checkpoint on disk is the last good one.
func TestTrainDivergence(t *testing.T) {
	data, out := writeData(t), t.TempDir()
	code, stdout, stderr := runCLI(tinyArgs(data, out, "--lr", "1e30", "--min-lr", "0", "--warmup", "0", "--checkpoint-every", "1", "--steps", "20")...)
	require.Equal(t, 1, code, stdout)
	require.Regexp(t, `diverged at step (\d+)`, stderr)
	require.Contains(t, stderr, "the last good checkpoint (step")
	ck, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
	require.NoError(t, err)
	require.Contains(t, stderr, "diverged at step "+strconv.Itoa(ck.Step+1))
}

// TestTrainResumeIsExact: a run interrupted after step 3 of 6 and continued with --resume ends with
// the same weights and optimizer state, bit for bit, as an uninterrupted run.
func TestTrainResumeIsExact(t *testing.T) {
	data := writeData(t)
	straight, split := t.TempDir(), t.TempDir()
	code, _, stderr := runCLI(tinyArgs(data, straight)...)
	require.Equal(t, 0, code, stderr)

	ctx, cancel := context.WithCancel(context.Background())
	var o, e bytes.Buffer
	w := &cancelAfter{w: &o, line: "step 3/6", cancel: cancel}
	err := train(ctx, tinyArgs(data, split)[1:], w, &e)
	var ie *interruptedError
	require.ErrorAs(t, err, &ie, e.String())
	require.Equal(t, 3, ie.step)
	code, _, stderr = runCLI("train", "--out", split, "--resume")
	require.Equal(t, 0, code, stderr)

	a, err := gpt.LoadCheckpoint(filepath.Join(straight, checkpointFile))
	require.NoError(t, err)
	b, err := gpt.LoadCheckpoint(filepath.Join(split, checkpointFile))
	require.NoError(t, err)
	require.Equal(t, 6, b.Step)
	require.Equal(t, len(a.Tensors), len(b.Tensors))
	for name, ta := range a.Tensors {
		require.Equal(t, ta.Data, b.Tensors[name].Data, name)
	}
}

// cancelAfter is a writer that cancels a context once the output contains line.
type cancelAfter struct {
	w      *bytes.Buffer
	line   string
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if strings.Contains(c.w.String(), c.line) {
		c.cancel()
	}
	return n, err
}

// TestTrainPreset: --preset gives a run the preset's shape — for tiny and small, the shape kvgpt
// bench measures — and its training settings, and the flags given override them.
func TestTrainPreset(t *testing.T) {
	data := writeData(t)
	for _, c := range []struct {
		preset string
		L, C   int
		NH, T  int
		B      int
	}{
		{"tiny", 2, 64, 4, 64, 16},
		{"small", 4, 128, 4, 128, 16},
	} {
		t.Run(fmt.Sprintf("preset=%s/L=%d/C=%d/NH=%d/T=%d/B=%d", c.preset, c.L, c.C, c.NH, c.T, c.B), func(t *testing.T) {
			out := t.TempDir()
			code, stdout, stderr := runCLI("train", "--preset", c.preset, "--data", data, "--steps", "1", "--eval-batches", "1",
				"--threads", "2", "--out", out)
			require.Equal(t, 0, code, stderr)
			require.Contains(t, stdout, fmt.Sprintf("model: identity, L=%d C=%d NH=%d T=%d H=%d,", c.L, c.C, c.NH, c.T, 4*c.C))
			require.Contains(t, stdout, fmt.Sprintf("train: 1 steps × %d tokens (B=%d × T=%d × accum 1), lr 0.001 → 0.0001, warmup 100,", c.B*c.T, c.B, c.T))

			// The same shape as kvgpt bench's.
			p, err := gpt.LookupPreset(c.preset)
			require.NoError(t, err)
			s := bench.PresetShape(p, gpt.Identity)
			require.Equal(t, bench.Shape{B: c.B, T: c.T, C: c.C, NH: c.NH, L: c.L, V: 256, H: 4 * c.C, Identity: true}, s)
			ck, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
			require.NoError(t, err)
			require.Equal(t, bench.Config(p, gpt.Identity), ck.Config)
			require.Equal(t, c.B, ck.Train.BatchSize)
		})
	}
}

// TestTrainResumeOverridesGivenFlags: --resume takes every setting from the checkpoint — here all
// unlike the default preset's — and a flag given overrides only its own.
func TestTrainResumeOverridesGivenFlags(t *testing.T) {
	data, out := writeData(t), t.TempDir()
	code, _, stderr := runCLI(tinyArgs(data, out, "--lr", "0.005", "--min-lr", "0.0005", "--grad-clip", "0.5", "--seed", "7")...)
	require.Equal(t, 0, code, stderr)
	first, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
	require.NoError(t, err)

	code, stdout, stderr := runCLI("train", "--out", out, "--resume", "--steps", "9", "--eval-every", "4", "--n-embd", "16", "--threads", "2")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "data: "+data, "the checkpoint's data")
	require.Contains(t, stdout, "char tokens")
	require.Contains(t, stdout, "model: identity, L=1 C=16 NH=2 T=16 H=64,")
	require.Contains(t, stdout, "train: 9 steps × 64 tokens (B=4 × T=16 × accum 1), lr 0.005 → 0.0005, warmup 2,")
	require.Contains(t, stdout, "resumed from "+filepath.Join(out, checkpointFile)+" at step 6")

	ck, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
	require.NoError(t, err)
	want := first.Train
	want.Steps, want.EvalEvery = 9, 4 // the two training flags given; --n-embd 16 agrees with the checkpoint
	require.Equal(t, want, ck.Train)
	require.Equal(t, first.Config, ck.Config)
	require.Equal(t, 9, ck.Step)
	for _, k := range []string{gpt.TokenizerKey, gpt.CharsKey, metaData, metaDataPath, metaCorpusBytes} {
		require.Equal(t, first.Meta[k], ck.Meta[k], k)
	}
}

// TestSampleFindsTheDefaultCheckpoint: a bare `kvgpt train` writes out/train/, where a bare
// `kvgpt sample` looks (run in a temporary working directory).
func TestSampleFindsTheDefaultCheckpoint(t *testing.T) {
	data := writeData(t)
	t.Chdir(t.TempDir())
	code, _, stderr := runCLI("sample")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "checkpoint out/train/ckpt.safetensors does not exist: train a model with kvgpt train")

	args := tinyArgs(data, "")
	args = args[:len(args)-2] // no --out
	require.Equal(t, "--threads", args[len(args)-2])
	code, stdout, stderr := runCLI(args...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "checkpoint out/train/ckpt.safetensors")
	code, stdout, stderr = runCLI("sample", "--tokens", "10")
	require.Equal(t, 0, code, stderr)
	require.Len(t, []rune(strings.TrimSuffix(stdout, "\n")), 10)
}
