//go:build fakemetal && cgo

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSelftestMetal runs `kvgpt selftest --backend metal` in a build with the fake Metal device:
// the real metal package, through darwinkit, on the fake device whose dispatches run in the shader
// harness. The device check comes first, then every row passes and the exit code is 0.
func TestSelftestMetal(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"selftest", "--backend", "metal", "--steps", "2"}, &out, &errOut)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	s := out.String()
	require.Contains(t, s, "backend: metal (fakemetal (CPU))")
	check := strings.Index(s, "device check: ok: ")
	require.GreaterOrEqual(t, check, 0, "no device check line:\n%s", s)
	require.Less(t, check, strings.Index(s, "max error"), "the device check comes before the table")
	require.Equal(t, 2, strings.Count(s, "train step 2"), "one row per mode")
	require.NotContains(t, s, "FAIL")
	require.Contains(t, s, "checks passed on metal (fakemetal (CPU))")
	t.Logf("kvgpt selftest --backend metal on the fake device:\n%s", s)
}

// TestSelftestMetalNoDevice runs the selftest where the system reports no Metal device: one
// clear error, no table, a non-zero exit.
func TestSelftestMetalNoDevice(t *testing.T) {
	t.Setenv("FAKEMETAL_NO_DEVICE", "1")
	var out, errOut bytes.Buffer
	code := run([]string{"selftest", "--backend", "metal"}, &out, &errOut)
	require.NotEqual(t, 0, code)
	require.NotContains(t, out.String(), "max error", "no table when the device is missing")
	require.Contains(t, errOut.String(), "no Metal GPU")
	require.Equal(t, 1, strings.Count(errOut.String(), "metal:"), "one error:\n%s", errOut.String())
}

// TestBenchMetalCounts runs `kvgpt bench --backend metal` on the fake device: no timings, but a
// row per preset and mode with the dispatches, command buffers and host waits of one step.
func TestBenchMetalCounts(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"bench", "--backend", "metal", "--presets", "tiny"}, &out, &errOut)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	s := out.String()
	require.Contains(t, s, "a fake device: no timings")
	require.NotContains(t, s, "tok/s")
	require.NotContains(t, s, "GFLOP/s")
	var rows int
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 6 && f[0] == "tiny" {
			rows++
			require.NotEqual(t, "0", f[4], "dispatches per step: %s", line)
			require.NotEqual(t, "0", f[5], "command buffers per step: %s", line)
		}
	}
	require.Equal(t, 2, rows, "one row per mode:\n%s", s)
}

// TestSelftestMetalDeviceCheck runs the selftest on a device whose SIMD groups are 16 wide: the
// device check fails first, with one error that names the problem, and no table is printed.
func TestSelftestMetalDeviceCheck(t *testing.T) {
	t.Setenv("FAKEMETAL_SIMD_WIDTH", "16")
	var out, errOut bytes.Buffer
	code := run([]string{"selftest", "--backend", "metal"}, &out, &errOut)
	require.NotEqual(t, 0, code)
	require.NotContains(t, out.String(), "max error", "no table when the device check fails")
	require.Contains(t, errOut.String(), "device check")
	require.Contains(t, errOut.String(), "SIMD groups of 16 threads")
	require.Equal(t, 1, strings.Count(errOut.String(), "\n"), "one line:\n%s", errOut.String())
}

// TestSampleMetal runs `kvgpt sample --backend metal` on the fake device, greedily past the block
// size (16): the same text with the KV cache and with --no-cache, and the speed line.
func TestSampleMetal(t *testing.T) {
	ckpt := trainTiny(t)
	var texts []string
	for _, extra := range [][]string{nil, {"--no-cache"}} {
		args := append([]string{"sample", "--backend", "metal", "--checkpoint", ckpt, "--prompt", "to be", "--tokens", "24", "--temperature", "0"}, extra...)
		code, stdout, stderr := runCLI(args...)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "backend: metal (fakemetal (CPU))")
		require.Regexp(t, speedRE, stderr)
		texts = append(texts, stdout)
	}
	require.Equal(t, texts[0], texts[1], "KV cache vs --no-cache on the GPU")
}
