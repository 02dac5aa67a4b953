package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
)

// TestFormat1Checkpoint: a checkpoint of the first format (gpt/testdata/format1.safetensors,
// written by an older kvgpt) still samples and resumes, with a note that its header is unchecked;
// the resumed run writes its next checkpoint in the current format.
func TestFormat1Checkpoint(t *testing.T) {
	old, err := os.ReadFile(filepath.Join("..", "..", "gpt", "testdata", "format1.safetensors"))
	require.NoError(t, err)
	out := t.TempDir()
	ckpt := filepath.Join(out, checkpointFile)
	require.NoError(t, os.WriteFile(ckpt, old, 0o644))
	note := "note: checkpoint " + ckpt + ": it has the older format kvgpt-checkpoint-1, whose checksum covers its tensors but not its header"

	code, stdout, stderr := runCLI("sample", "--checkpoint", ckpt, "--tokens", "5", "--backend", "cpu")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, note)
	require.NotEmpty(t, stdout)

	data := filepath.Join("..", "..", "gpt", "testdata", "format1.txt")
	code, _, stderr = runCLI("train", "--resume", "--steps", "6", "--data", data, "--out", out, "--backend", "cpu", "--threads", "1")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, note)
	ck, err := gpt.LoadCheckpoint(ckpt)
	require.NoError(t, err)
	require.Equal(t, gpt.CheckpointFormat, ck.Format)
	require.Equal(t, 6, ck.Step)
	require.Empty(t, ck.Note())
}
