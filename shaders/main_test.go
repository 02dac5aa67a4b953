package shaders_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/kvgpt/kvgpt/internal/mslcpu"
)

var kernelRE = regexp.MustCompile(`(?m)^\s*kernel\s+void\s+(\w+)\s*\(`)

// TestMain reports how many of the kernels in shaders/*.metal the tests dispatched, and fails a
// complete run (no -run or -skip filter, no -short) that left any kernel unexercised.
func TestMain(m *testing.M) {
	code := m.Run()
	n, names, err := kernelCountFromSources()
	if err != nil {
		fmt.Fprintln(os.Stderr, "shaders: counting kernels:", err)
		os.Exit(1)
	}
	kernelsMu.Lock()
	ran := len(kernelsRun)
	var missing []string
	for _, k := range names {
		if kernelsRun[k] == 0 {
			missing = append(missing, k)
		}
	}
	kernelsMu.Unlock()
	sort.Strings(missing)
	fmt.Printf("shaders: ran %d of %d kernels (`kernel void` in shaders/*.metal)\n", ran, n)
	full := flag.Lookup("test.run").Value.String() == "" && flag.Lookup("test.skip").Value.String() == "" &&
		!testing.Short()
	_, clangErr := mslcpu.Compiler()
	switch {
	case code != 0:
	case ran == 0 && clangErr != nil && os.Getenv("CI") == "":
		fmt.Println("shaders: kernels not run:", clangErr)
	case full && (ran != n || len(missing) > 0):
		fmt.Printf("shaders: FAIL: kernels never dispatched by the tests: %v\n", missing)
		code = 1
	}
	os.Exit(code)
}
