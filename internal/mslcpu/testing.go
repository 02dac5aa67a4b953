package mslcpu

import (
	"os"
	"testing"
)

// NeedCompiler skips t when no suitable clang++ is installed, with a message saying how to get
// one, but fails it when the environment variable CI is set: in CI the harness must run.
func NeedCompiler(t testing.TB) {
	t.Helper()
	if _, err := Compiler(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but the shader harness cannot run: %v", err)
		}
		t.Skipf("shader harness unavailable: %v", err)
	}
}

// StartFile builds the .metal file at path with opts, starts a runner and registers its Close
// with t.Cleanup. It calls NeedCompiler first and fails t on any error.
func StartFile(t testing.TB, path string, opts Options) *Runner {
	t.Helper()
	NeedCompiler(t)
	p, err := BuildFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	r, err := p.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
