//go:build linux

package nn_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/nn"
)

// TestCPUAddressSpaceLimit runs a child process under an address-space limit (ulimit -v) that
// allocates until the backend refuses: it must refuse with an *AllocError before the Go runtime
// fails to map the memory, which would be a fatal error. (Untouched buffers cost no memory.)
func TestCPUAddressSpaceLimit(t *testing.T) {
	if os.Getenv("KVGPT_AS_CHILD") == "1" {
		asChild()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCPUAddressSpaceLimit$", "-test.v")
	cmd.Env = append(os.Environ(), "KVGPT_AS_CHILD=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "as-child: refused: nn: cpu: cannot allocate 268.4 MB")
	require.Contains(t, string(out), "more than the room left under the process's address-space limit (ulimit -v)")
	t.Logf("%s", regexp.MustCompile(`as-child: .*`).FindString(string(out)))
}

// asChild limits its address space to 2 GiB more than it uses, then allocates 256 MiB buffers.
func asChild() {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		panic(err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
	if err != nil {
		panic(err)
	}
	limit := uint64(pages*int64(os.Getpagesize())) + 2<<30
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		panic(err)
	}
	c := nn.NewCPU(1)
	var keep []nn.View
	defer func() {
		if p := recover(); p != nil {
			fmt.Printf("as-child: refused: %v (after %d buffers)\n", p, len(keep))
		}
	}()
	for range 100 {
		keep = append(keep, c.Alloc(64<<20))
	}
	fmt.Println("as-child: never refused")
}
