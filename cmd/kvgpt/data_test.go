package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/tokens"
)

// TestTrainOnPreparedData: a run on the dataset directory kvgpt prepare makes of a text trains
// bit for bit as a run on the text itself, resumes bit for bit, and kvgpt eval reads it.
func TestTrainOnPreparedData(t *testing.T) {
	text := writeData(t)
	dir := filepath.Join(t.TempDir(), "d")
	code, stdout, stderr := runPrepareCmd(t, "", "--data", text, "--vocab", "char", "--out", dir, "--shard-tokens", "1000")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "char tokens")

	onText, onDir, split := t.TempDir(), t.TempDir(), t.TempDir()
	code, _, stderr = runCLI(tinyArgs(text, onText)...)
	require.Equal(t, 0, code, stderr)
	args := func(out string) []string {
		a := tinyArgs(dir, out)
		for i, x := range a {
			if x == "--vocab" {
				return append(a[:i:i], a[i+2:]...) // the directory says its vocabulary
			}
		}
		return a
	}
	code, stdout, stderr = runCLI(args(onDir)...)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "memory-mapped")

	// Interrupted after step 3 and resumed.
	ctx, cancel := context.WithCancel(context.Background())
	var o, e bytes.Buffer
	err := train(ctx, args(split)[1:], &cancelAfter{w: &o, line: "step 3/6", cancel: cancel}, &e)
	var ie *interruptedError
	require.ErrorAs(t, err, &ie, e.String())
	code, _, stderr = runCLI("train", "--out", split, "--resume")
	require.Equal(t, 0, code, stderr)

	want, err := gpt.LoadCheckpoint(filepath.Join(onText, checkpointFile))
	require.NoError(t, err)
	for _, out := range []string{onDir, split} {
		got, err := gpt.LoadCheckpoint(filepath.Join(out, checkpointFile))
		require.NoError(t, err)
		require.Equal(t, 6, got.Step)
		for name, w := range want.Tensors {
			require.Equal(t, w.Data, got.Tensors[name].Data, "%s: %s", out, name)
		}
		require.Equal(t, dir, got.Meta[metaDataPath])
	}

	// kvgpt eval: the directory's validation split by default, its own data by default.
	d, err := tokens.OpenDir(dir)
	require.NoError(t, err)
	nval := d.Val.Len()
	d.Close()
	ck := filepath.Join(onDir, checkpointFile)
	for _, a := range [][]string{{"--data", dir}, nil} {
		code, stdout, stderr = runCLI(append([]string{"eval", "--checkpoint", ck, "--json", "-"}, a...)...)
		require.Equal(t, 0, code, stderr)
		var rep evalReport
		require.NoError(t, json.Unmarshal([]byte(stdout[strings.Index(stdout, "{"):]), &rep))
		require.Equal(t, "val", rep.Split)
		require.Equal(t, int64(nval-1), rep.Tokens)
		require.Greater(t, rep.Loss, 0.0)
		require.InDelta(t, rep.Loss*float64(rep.Tokens)/0.6931471805599453/float64(rep.Bytes), rep.BitsPerByte, 1e-9)
	}
	// The text file evaluates whole.
	code, stdout, stderr = runCLI("eval", "--checkpoint", ck, "--data", text, "--split", "all", "--batch-size", "3")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "eval: all split, ")
	// A dataset of another vocabulary is refused.
	other := filepath.Join(t.TempDir(), "b")
	code, _, stderr = runPrepareCmd(t, "", "--data", text, "--vocab", "byte", "--out", other)
	require.Equal(t, 0, code, stderr)
	code, _, stderr = runCLI("eval", "--checkpoint", ck, "--data", other)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "another vocabulary")
	code, _, stderr = runCLI("train", "--out", t.TempDir(), "--data", other, "--vocab", "char")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "holds byte tokens, --vocab says char")
}
