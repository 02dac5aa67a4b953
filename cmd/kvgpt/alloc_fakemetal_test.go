//go:build fakemetal && cgo

package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTrainMetalOutOfMemory: a device that cannot allocate the run's buffers (the fake device's
// FAKEMETAL_MAX_BUFFER_BYTES) makes kvgpt train exit 1 with one line that says so, no stack.
func TestTrainMetalOutOfMemory(t *testing.T) {
	t.Setenv("FAKEMETAL_MAX_BUFFER_BYTES", "1000000")
	args := tinyArgs(writeData(t), t.TempDir(), "--backend", "metal", "--batch-size", "400")
	i := slices.Index(args, "--threads") // the metal backend has no CPU threads: kvgpt refuses the flag
	args = slices.Delete(args, i, i+2)
	code, stdout, stderr := runCLI(args...)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	require.Equal(t, 1, strings.Count(stderr, "\n"), "one line:\n%s", stderr)
	require.Contains(t, stderr, "kvgpt train: gpt: the activations and batches of a B=400 × T=16 micro-batch (grad-accum 1, eval-batches 1) do not fit; lower --batch-size (or --grad-accum, --eval-batches): nn: metal (fakemetal (CPU)): cannot allocate")
	require.Contains(t, stderr, "Metal returned no buffer (out of memory)")
	require.NotContains(t, stderr, "panic")
}
