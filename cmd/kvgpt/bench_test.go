package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/bench"
	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/metal"
)

func TestBenchTinyCPU(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bench.json")
	code, stdout, stderr := runCLI("bench", "--backend", "cpu", "--ops", "tiny", "--presets", "tiny",
		"--op-time", "2ms", "--step-time", "0", "--min-steps", "1", "--pytorch", "off", "--threads", "2", "--json", out)
	require.Equal(t, 0, code, stderr)

	// The table: the BLAS, the peak, a row per op of both modes, a row per mode of training.
	p, err := gpt.LookupPreset("tiny")
	require.NoError(t, err)
	ops := bench.Dedupe(append(bench.Ops(bench.PresetShape(p, gpt.Baseline)), bench.Ops(bench.PresetShape(p, gpt.Identity))...))
	require.Contains(t, stdout, "BLAS: ")
	require.Regexp(t, `peak: \d+\.\d GFLOP/s \(matmul_forward BT=2048/C=1024/OC=1024\), \d+\.\d GB/s \(residual_forward N=16777216\): the best of 3 measurements spread over the run`, stdout)
	require.Contains(t, stdout, "gonum Sgemm (pure Go)")
	for _, o := range ops {
		require.Regexp(t, `(?m)^`+o.Op+` +`+strings.ReplaceAll(o.Shape, "/", `/`)+` +\d`, stdout, o.Name())
	}
	require.Regexp(t, `(?m)^tiny +baseline +16×64 +119104 +\S+ +\d+ +\d+\.\d%`, stdout)
	require.Regexp(t, `(?m)^tiny +identity +16×64 +110912 `, stdout)
	require.Contains(t, stdout, "wrote "+out)

	// The same as JSON.
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep bench.Report
	require.NoError(t, json.Unmarshal(raw, &rep))
	require.Len(t, rep.Backends, 1)
	b := rep.Backends[0]
	require.Equal(t, "cpu", b.Backend)
	require.Greater(t, b.Peak.GFLOPS, 0.0)
	require.Greater(t, b.Peak.GBps, 0.0)
	require.Equal(t, 3, b.Peak.Trials, "at the start, after the op table, after the preset")
	require.LessOrEqual(t, b.Peak.GFLOPSMin, b.Peak.GFLOPS)
	require.Len(t, b.Ops, len(ops))
	for i, o := range b.Ops {
		require.Equal(t, ops[i].Op, o.Op)
		require.Equal(t, ops[i].Shape, o.Shape)
		require.Greater(t, o.Seconds, 0.0)
	}
	require.Len(t, b.Training, 2)
	for _, tr := range b.Training {
		require.Equal(t, "tiny", tr.Preset)
		require.Greater(t, tr.TokensPerSec, 0.0)
		require.InDelta(t, min(tr.TokensPerSec*tr.FLOPsPerToken/(b.Peak.GFLOPS*1e9), 1), tr.MFU, 1e-9)
		require.Nil(t, tr.PyTorch)
	}
	require.Positive(t, rep.Host.NumCPU)
	require.Positive(t, rep.Seconds)
	require.NotEmpty(t, rep.BLAS.Name)
}

func TestBenchBadFlags(t *testing.T) {
	for _, tc := range []struct{ args, msg string }{
		{"--backend gpu", `unknown --backend "gpu"`},
		{"--ops huge", `--ops: gpt: unknown preset "huge" (want one of micro, tiny, default,`},
		{"--presets tiny,large", `--presets: gpt: unknown preset "large"`},
		{"--threads -1", "--threads must be ≥ 0"},
		{"--pytorch maybe", `unknown --pytorch "maybe"`},
		{"--pytorch-omp-wait lazy", `unknown --pytorch-omp-wait "lazy"`},
		{"--min-steps 0", "--min-steps must be ≥ 1, got 0"},
		{"--op-time 0s", "--op-time must be > 0, got 0s"},
		{"--step-time -1s", "--step-time must be ≥ 0, got -1s"},
		{"--long-step -2s", "--long-step must be ≥ 0 (0: never), got -2s"},
		{"--rounds 0", "--rounds must be ≥ 1, got 0"},
		{"--json /nonexistent/dir/b.json", "--json /nonexistent/dir/b.json: directory /nonexistent/dir does not exist"},
		{"--json " + os.TempDir(), "--json " + os.TempDir() + " is a directory; give a file name"},
		{"--ops none --op-time 1s", "--op-time 1s would be ignored: --ops none measures no op (drop one of them)"},
		{"--presets none --rounds 3", "--rounds 3 would be ignored: --presets none measures no training (drop one of them)"},
		{"--presets none --min-steps 5", "--min-steps 5 would be ignored: --presets none measures no training"},
		{"--backend metal --threads 2", "--threads 2 would be ignored: --backend metal has no CPU threads"},
		{"--backend metal --pytorch on", "--pytorch on would be ignored: PyTorch is measured on the cpu backend's training presets only"},
		{"--pytorch off --pytorch-omp-wait active", "--pytorch-omp-wait active would be ignored: PyTorch is not measured"},
		{"extra", `unexpected argument "extra"`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			code, _, stderr := runCLI(append([]string{"bench"}, strings.Fields(tc.args)...)...)
			require.Equal(t, 1, code)
			require.Contains(t, stderr, tc.msg)
		})
	}
}

func TestBenchMetalUnavailableHere(t *testing.T) {
	if metal.Available() {
		t.Skip("this machine has Metal")
	}
	code, _, stderr := runCLI("bench", "--backend", "metal", "--pytorch", "off")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "kvgpt bench: metal: ")
}

func TestBenchWithPyTorch(t *testing.T) {
	if _, err := bench.FindTorchPython(context.Background()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %v", err)
		}
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "bench.json")
	code, stdout, stderr := runCLI("bench", "--backend", "cpu", "--ops", "none", "--presets", "tiny",
		"--step-time", "0", "--min-steps", "1", "--pytorch", "on", "--threads", "1", "--rounds", "3", "--json", out)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "medians of 3 rounds")
	require.Regexp(t, `(?m)^tiny +baseline +16×64 +119104 +\S+ +\d+ +\d+\.\d%\*? +\d+ +\d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\)$`, stdout)
	require.Regexp(t, `(?m)^tiny +identity +16×64 +110912 +\S+ +\d+ +\d+\.\d%\*? +\d+ +\d+\.\d\d× \(\d+\.\d\d–\d+\.\d\d\)$`, stdout)
	require.Equal(t, 3, strings.Count(stderr, "training tiny with PyTorch"), "one PyTorch run per round")
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep bench.Report
	require.NoError(t, json.Unmarshal(raw, &rep))
	for _, tr := range rep.Backends[0].Training {
		require.NotNil(t, tr.PyTorch, tr.PyTorchError)
		require.Equal(t, tr.Mode, tr.PyTorch.Mode)
		require.Equal(t, 1, tr.PyTorch.Threads)
		require.Equal(t, "PASSIVE", tr.PyTorch.OMPWaitPolicy)
		require.Equal(t, tr.Params, tr.PyTorch.Params)
		// Three rounds, each with its own ratio; the reported ratio is their median.
		require.Len(t, tr.Rounds, 3)
		var ratios []float64
		for _, r := range tr.Rounds {
			require.Positive(t, r.TokensPerSec)
			require.InDelta(t, r.TokensPerSec/r.PyTorchTokensPerSec, r.Ratio, 1e-9)
			ratios = append(ratios, r.Ratio)
		}
		slices.Sort(ratios)
		require.InDelta(t, ratios[1], tr.Ratio, 1e-9)
		require.Equal(t, ratios[0], tr.RatioMin)
		require.Equal(t, ratios[2], tr.RatioMax)
	}
}
