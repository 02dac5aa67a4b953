//go:build fakemetal && cgo

package metal

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/gpt"
	"github.com/kvgpt/kvgpt/metal/internal/fakemetal"
	"github.com/kvgpt/kvgpt/nn"
	"github.com/kvgpt/kvgpt/nn/nntest"
	"github.com/kvgpt/kvgpt/shaders"
)

// faultEnv names the host fault a child process of TestNegativeControls injects.
const faultEnv = "KVGPT_METAL_FAULT"

// TestMain runs the tests on the fake device, then fails the run if any fake Metal object is
// still alive (every backend has been closed by then) or the device recorded a misuse of the
// Metal API, and prints the one-line summary `make test` shows. With KVGPT_METAL_FAULT set it is
// a child of TestNegativeControls instead, and runs the fault workload.
func TestMain(m *testing.M) {
	if name := os.Getenv(faultEnv); name != "" {
		os.Exit(faultWorkload(name))
	}
	code := m.Run()
	fakemetal.Close()
	c := fakemetal.Read()
	fmt.Printf("fakemetal: %d of %d conformance cases passed on the real metal backend (%d dispatches, %d command buffers, %d live objects, %d misuses)\n",
		conformance.Passed, conformance.Total, c.Dispatches+c.MPS, c.Committed, c.Live, c.Misuses)
	if c.Live != 0 {
		fmt.Printf("fakemetal: FAIL: fake Metal objects alive after every backend was closed:\n%s", fakemetal.Live())
		code = 1
	}
	if c.Misuses != 0 {
		fmt.Printf("fakemetal: FAIL: misuses of the Metal API:\n%s", fakemetal.Misuses())
		code = 1
	}
	os.Exit(code)
}

// faults are the host bugs the negative controls inject, by name, with the check that must
// catch each and the text by which its report is recognised; env is the child's extra
// environment.
var faults = []struct {
	name  string
	fault fault
	check string // which check catches it
	want  string // text in the child's output
	env   []string
}{
	{"no-end-encoding", faultNoEndEncoding, "the fake device's misuse check", "commit with an open compute encoder (endEncoding missing)", nil},
	{"unretained-command-buffer", faultUnretainedCommandBuffer, "the fake device's zombies", "message sent to deallocated instance", nil},
	{"dropped-offsets", faultDropOffsets, "the conformance suite (wrong values)", "FAIL out: max |got−want|", nil},
	{"download-without-wait", faultNoWait, "the conformance suite (stale reads: command buffers complete asynchronously)", "FAIL out: max |got−want|", nil},
	{"setBuffer-through-darwinkit", faultWrapAsProtocol, "darwinkit's objc.WrapAsProtocol panic, reported by the suite", "generic type T should be interface type", nil},
	{"upload-without-wait", faultUploadNoWait, "the fake device's hazard check (a host write before queued work that uses the buffer ran)", "MISUSE: write-after-read hazard", nil},
	{"upload-without-wait/deferred", faultUploadNoWait, "the same, command buffers run only when waited for", "MISUSE: write-after-read hazard", []string{"FAKEMETAL_DEFER=1"}},
	{"mps-in-its-own-command-buffer", faultMPSOwnCommandBuffer, "the fake device's hazard check (commands run out of encoding order)", "MISUSE: ordering hazard: MPSMatrixMultiplication", nil},
	{"mps-in-its-own-command-buffer/deferred", faultMPSOwnCommandBuffer, "the same, command buffers run only when waited for", "MISUSE: ordering hazard: MPSMatrixMultiplication", []string{"FAKEMETAL_DEFER=1"}},
}

// TestHazardsDeferred runs the hazard cases (see TestHazards) on a backend whose command buffers
// run only when the host waits for them (FAKEMETAL_DEFER=1): the latest a GPU may run them, so
// that every host write or out-of-order commit meets the work still to do.
func TestHazardsDeferred(t *testing.T) {
	t.Setenv("FAKEMETAL_DEFER", "1")
	for _, c := range hazardCases {
		t.Run(c.name, func(t *testing.T) {
			b := newTestBackend(t) // its queue defers: the variable is read when it is made
			require.Empty(t, c.run(b))
		})
	}
	// A whole training step's host code, every command buffer run as late as it can.
	t.Run("training-matches-cpu/L=1/C=24/T=9", func(t *testing.T) { requireSmallTrainingMatchesCPU(t, gpt.Baseline) })
}

// TestNegativeControls injects each host fault in a child process running a small workload on
// the fake device, and checks that the workload fails and that the expected check caught it. A
// child without a fault must pass, so that each failure is the fault's doing.
func TestNegativeControls(t *testing.T) {
	run := func(name string, env ...string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(append(os.Environ(), faultEnv+"="+name, "FAKEMETAL_ABORT=0"), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, env := range [][]string{nil, {"FAKEMETAL_DEFER=1"}} {
		t.Run(fmt.Sprintf("fault=none/env=%v", env), func(t *testing.T) {
			out, err := run("none", env...)
			require.NoError(t, err, "the workload must pass without a fault:\n%s", out)
			require.Contains(t, out, "faultworkload: ok")
		})
	}
	for _, f := range faults {
		t.Run("fault="+f.name, func(t *testing.T) {
			out, err := run(f.name, f.env...)
			require.Error(t, err, "the workload passed with the fault injected:\n%s", out)
			require.Contains(t, out, f.want, "not caught by %s", f.check)
			t.Logf("%s: caught by %s: %q", f.name, f.check, f.want)
			if i := strings.Index(out, f.want); strings.HasPrefix(f.want, "MISUSE") && i >= 0 {
				line, _, _ := strings.Cut(out[i:], "\n")
				t.Logf("%s: the fake's message: fakemetal: %s", f.name, line)
			}
		})
	}
}

// faultWorkload opens a backend with the named fault injected, runs a part of the conformance
// suite and an MPS product on it, closes it and checks the fake device's books. It prints what
// failed and returns the exit code: 0 if everything passed.
func faultWorkload(name string) (code int) {
	var f fault
	found := name == "none"
	for _, c := range faults {
		if c.name == name {
			f, found = c.fault, true
		}
	}
	if !found {
		fmt.Printf("faultworkload: unknown fault %q\n", name)
		return 2
	}
	var b *Backend
	var err error
	inPool(func() { b, err = open() })
	if err != nil {
		fmt.Println("faultworkload: opening the backend:", err)
		return 1
	}
	b.s.fault = f
	failed := 0
	for _, c := range nntest.Cases() {
		if !strings.Contains(c.Name(), "op=matmul/N=13") && !strings.Contains(c.Name(), "op=attention/mode=identity/B=2") &&
			!strings.Contains(c.Name(), "op=layernorm/N=14") {
			continue
		}
		r := c.Run(b, nntest.Options{})
		if r.Err != nil {
			fmt.Printf("faultworkload: %s: %v\n", c.Name(), r.Err)
			failed++
			continue
		}
		for _, ch := range r.Checks {
			if !ch.Pass() {
				fmt.Printf("faultworkload: %s: %s\n", c.Name(), ch)
				failed++
			}
		}
	}
	for _, c := range hazardCases {
		if msg := c.run(b); msg != "" {
			fmt.Printf("faultworkload: %s: %s\n", c.name, msg)
			failed++
		}
	}
	if err := b.Close(); err != nil {
		fmt.Println("faultworkload: Close:", err)
		failed++
	}
	fakemetal.Close()
	if c := fakemetal.Read(); c.Misuses > 0 || c.Live > 0 {
		fmt.Printf("faultworkload: %d misuses, %d live objects:\n%s%s", c.Misuses, c.Live, fakemetal.Misuses(), fakemetal.Live())
		failed++
	}
	if failed > 0 {
		return 1
	}
	fmt.Println("faultworkload: ok")
	return 0
}

// requireSmallTrainingMatchesCPU trains a one-layer model of mode (C=24, T=9) for a few steps on a
// new Metal backend and on the CPU and requires the same losses.
func requireSmallTrainingMatchesCPU(t *testing.T, mode gpt.QueryMode) {
	cfg := gpt.Config{NLayer: 1, NHead: 2, NEmbd: 24, BlockSize: 9, VocabSize: 256, QueryMode: mode}
	be := newTestBackend(t)
	cpu := nn.NewCPU(0)
	defer cpu.Close()
	got, want := trainLosses(t, be, cfg), trainLosses(t, cpu, cfg)
	for i := range want {
		require.InEpsilon(t, want[i], got[i], 1e-3, "step %d: metal %v, cpu %v", i+1, got[i], want[i])
	}
}

// recorder is a shaders.Encoder that keeps the last dispatch instead of encoding it.
type recorder struct{ d shaders.Dispatch }

func (r *recorder) Dispatch(d *shaders.Dispatch) { r.d = *d }

// TestPipelineLimits checks the limits a real GPU's pipelines report, which the fake reports too:
// the static threadgroup memory of a kernel's declared arrays, which the host adds to the dynamic
// memory it asks for, and maxTotalThreadsPerThreadgroup, which a GPU may set below Metal's 1024
// (FAKEMETAL_MAX_THREADS plays one): kvgpt trains on pipelines that allow 256 threads, and on a
// GPU that allows fewer New fails with the host's own error.
func TestPipelineLimits(t *testing.T) {
	t.Run("static-threadgroup-memory/kernel=matmul_forward", func(t *testing.T) {
		b := newTestBackend(t)
		var p *pipeline
		var err error
		inPool(func() { p, err = b.lib.pipeline(b.dev, "matmul_forward") })
		require.NoError(t, err)
		require.Greater(t, p.staticMem, 4096, "the matmul's tiles are declared threadgroup arrays")
		// A real matmul dispatch, recorded, then sent with dynamic memory that fits on its own
		// but not beside the declared tiles: the host refuses it.
		rec := &recorder{}
		b.Ops.Enc = rec
		out, in, w := b.Alloc(13*7), b.Alloc(13*5), b.Alloc(7*5)
		b.MatmulForward(out, in, w, 13, 5, 7)
		b.Ops.Enc = encoder{b}
		d := rec.d
		d.TGMem[0] = b.maxTGMem - p.staticMem + 16
		b.dispatch(&d)
		require.EqualError(t, b.Sync(), fmt.Sprintf("metal: kernel matmul_forward: %d bytes of threadgroup memory, the GPU has %d", b.maxTGMem+16, b.maxTGMem))
		d.TGMem[0] = b.maxTGMem - p.staticMem
		b.dispatch(&d)
		require.NoError(t, b.Sync())
	})
	t.Run("max-threads=256/training-matches-cpu/L=1/C=24/T=9", func(t *testing.T) {
		t.Setenv("FAKEMETAL_MAX_THREADS", "256")
		requireSmallTrainingMatchesCPU(t, gpt.Identity)
	})
	t.Run("max-threads=128/refused", func(t *testing.T) {
		t.Setenv("FAKEMETAL_MAX_THREADS", "128")
		_, err := New()
		require.EqualError(t, err, "metal: device check: a test dispatch failed: metal: kernel residual_forward: threadgroups of 256 threads, but its pipeline allows at most 128 on metal (fakemetal (CPU))")
	})
}
