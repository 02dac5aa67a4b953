//go:build fakemetal && cgo

package metal

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/metal/internal/fakemetal"
	"github.com/kvgpt/kvgpt/nn/nntest"
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
// catch each and the text by which its report is recognised.
var faults = []struct {
	name  string
	fault fault
	check string // which check catches it
	want  string // text in the child's output
}{
	{"no-end-encoding", faultNoEndEncoding, "the fake device's misuse check", "commit with an open compute encoder (endEncoding missing)"},
	{"unretained-command-buffer", faultUnretainedCommandBuffer, "the fake device's zombies", "message sent to deallocated instance"},
	{"dropped-offsets", faultDropOffsets, "the conformance suite (wrong values)", "FAIL out: max |got−want|"},
	{"download-without-wait", faultNoWait, "the conformance suite (stale reads: command buffers complete asynchronously)", "FAIL out: max |got−want|"},
	{"setBuffer-through-darwinkit", faultWrapAsProtocol, "darwinkit's objc.WrapAsProtocol panic, reported by the suite", "generic type T should be interface type"},
}

// TestNegativeControls injects each host fault in a child process running a small workload on
// the fake device, and checks that the workload fails and that the expected check caught it. A
// child without a fault must pass, so that each failure is the fault's doing.
func TestNegativeControls(t *testing.T) {
	run := func(name string) (string, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), faultEnv+"="+name, "FAKEMETAL_ABORT=0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("fault=none", func(t *testing.T) {
		out, err := run("none")
		require.NoError(t, err, "the workload must pass without a fault:\n%s", out)
		require.Contains(t, out, "faultworkload: ok")
	})
	for _, f := range faults {
		t.Run("fault="+f.name, func(t *testing.T) {
			out, err := run(f.name)
			require.Error(t, err, "the workload passed with the fault injected:\n%s", out)
			require.Contains(t, out, f.want, "not caught by %s", f.check)
			t.Logf("%s: caught by %s: %q", f.name, f.check, f.want)
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
