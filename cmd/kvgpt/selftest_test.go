package main

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/metal"
	"github.com/kvgpt/kvgpt/nn"
)

// TestSelftestCPU runs `kvgpt selftest --backend cpu`: every row passes, the table has the op
// cases and a training row per step and mode, and the exit code is 0.
func TestSelftestCPU(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"selftest", "--backend", "cpu", "--steps", "2"}, &out, &errOut)
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	s := out.String()
	require.Contains(t, s, "backend: cpu")
	require.Contains(t, s, "op ")
	require.Contains(t, s, "max error")
	for _, want := range []string{"matmul", "attention", "layernorm", "crossentropy", "adamw", "train step 2"} {
		require.Contains(t, s, want)
	}
	require.Equal(t, 2, strings.Count(s, "train step 2"), "one row per mode")
	require.NotContains(t, s, "FAIL")
	require.Contains(t, s, "checks passed")
}

// brokenGELU is a backend whose GELU forward is slightly wrong: the selftest must catch it.
type brokenGELU struct{ nn.Backend }

func (b brokenGELU) GELUForward(out, in nn.View, N int) {
	b.Backend.GELUForward(out, in, N)
	b.Backend.ResidualForward(out, out, in.Slice(0, N), N) // out += in: far outside tolerance
}

// brokenAdamW is a backend whose optimizer uses a wrong learning rate: the training rows, which
// compare losses after each update with the CPU's, must catch it.
type brokenAdamW struct{ nn.Backend }

func (b brokenAdamW) AdamW(params, m, v nn.View, grads, decay nn.View, N int, h nn.AdamWParams) {
	h.LR *= 1.5
	b.Backend.AdamW(params, m, v, grads, decay, N, h)
}

// TestSelftestCatchesBrokenBackends checks that the table fails rows of a wrong op and of training
// runs that drift from the CPU's, and that the command turns failures into an error.
func TestSelftestCatchesBrokenBackends(t *testing.T) {
	cpu := nn.NewCPU(0)
	defer cpu.Close()

	rows, err := selftest(brokenGELU{nn.NewCPU(0)}, cpu, selftestOptions{only: "op=gelu", tolScale: 1})
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	var buf bytes.Buffer
	require.Equal(t, len(rows), printSelftest(&buf, rows), "every gelu case must fail:\n%s", buf.String())
	require.Contains(t, buf.String(), "FAIL")
	require.Contains(t, buf.String(), "failures:")

	rows, err = selftest(brokenAdamW{nn.NewCPU(0)}, cpu, selftestOptions{steps: 3, only: "", tolScale: 1})
	require.NoError(t, err)
	failedTrain := 0
	for _, r := range rows {
		if strings.HasPrefix(r.op, "train step") && !r.pass {
			failedTrain++
		}
	}
	require.Positive(t, failedTrain, "a wrong learning rate must show in the training losses")

	_, err = selftest(cpu, cpu, selftestOptions{only: "op=nosuchop", tolScale: 1})
	require.ErrorContains(t, err, "matches no case")
}

// TestSelftestBackendErrors checks the exit code and message for a backend that cannot run here
// and for an unknown backend name.
func TestSelftestBackendErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 1, run([]string{"selftest", "--backend", "tpu"}, &out, &errOut))
	require.Contains(t, errOut.String(), `unknown --backend "tpu"`)
	for _, c := range []struct{ args, want string }{
		{"--run op=matmul --steps 1000000000", "--steps must be between 0 (no training comparison) and 1000, got 1000000000"},
		{"--run op=matmul --steps 5", `--steps 5 would be ignored: --run "op=matmul" runs op cases only, no training comparison (drop one of them)`},
		{"--tol-scale 0", "--tol-scale must be a finite number > 0, got 0"},
		{"--backend metal --threads 3", "--threads 3 sizes the cpu backend; --backend metal would ignore it (drop it)"},
	} {
		errOut.Reset()
		require.Equal(t, 1, run(append([]string{"selftest"}, strings.Fields(c.args)...), &out, &errOut), c.args)
		require.Contains(t, errOut.String(), c.want, c.args)
	}

	if metal.Available() {
		t.Logf("Metal is available on %s: the error path of --backend metal is not reachable here", runtime.GOOS)
		return
	}
	errOut.Reset()
	require.Equal(t, 1, run([]string{"selftest", "--backend", "metal"}, &out, &errOut))
	require.Contains(t, errOut.String(), "macOS")
}
