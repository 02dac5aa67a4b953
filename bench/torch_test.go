package bench

import (
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
)

// torchPython returns a python3 with torch, skipping the test where there is none — except in CI
// (CI set), where .ci/run installs python3-torch and the test must run.
func torchPython(t *testing.T) string {
	py, err := FindTorchPython(context.Background())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but %v", err)
		}
		t.Skip(err)
	}
	return py
}

func TestTorchScriptTrainsTheSameModel(t *testing.T) {
	py := torchPython(t)
	p := testPreset()
	p.Model = gpt.Config{NLayer: 2, NHead: 2, NEmbd: 16, BlockSize: 16, MLPHidden: 72}
	modes := []gpt.QueryMode{gpt.Baseline, gpt.Identity}
	res, err := RunTorch(context.Background(), py, p, modes, TorchOptions{Threads: 1, Steps: 2, OMPWaitPolicy: "PASSIVE"})
	require.NoError(t, err) // includes: each parameter count equals gpt.Config.NumParams
	require.Len(t, res, 2)
	for i, r := range res {
		require.Equal(t, string(modes[i]), r.Mode)
		require.Equal(t, Config(p, modes[i]).NumParams(), r.Params)
		require.Equal(t, 1, r.Threads)
		require.Equal(t, 2, r.Steps)
		require.Equal(t, "PASSIVE", r.OMPWaitPolicy)
		require.Greater(t, r.TokensPerSec, 0.0)
		require.InDelta(t, 32/r.Seconds, r.TokensPerSec, 1e-6*r.TokensPerSec)
	}
	require.Less(t, res[1].Params, res[0].Params, "the query-free model has L·C² fewer parameters")
	require.Equal(t, 2*16*16, res[0].Params-res[1].Params)
}
