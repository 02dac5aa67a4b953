package tokens

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// mappingRss returns the resident kB of the mapping of this process that contains address p
// (/proc/self/smaps).
func mappingRss(t *testing.T, p unsafe.Pointer) int {
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		var lo, hi uintptr
		if n, _ := fmt.Sscanf(line, "%x-%x ", &lo, &hi); n == 2 && strings.Count(strings.Fields(line)[0], "-") == 1 {
			in = lo <= uintptr(p) && uintptr(p) < hi
			continue
		}
		if in && strings.HasPrefix(line, "Rss:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			require.NoError(t, err)
			return kb
		}
	}
	t.Fatalf("no mapping holds %p", p)
	return 0
}

// TestReadReleasesPages: reading a memory-mapped Seq leaves none of the pages it read resident in
// the process, so a run's memory does not grow with the corpus; reading the mapping directly
// (the negative control) does.
func TestReadReleasesPages(t *testing.T) {
	const n = 16 << 20 // 32 MB of uint16 tokens
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32(i % 50000)
	}
	path := filepath.Join(t.TempDir(), "big.bin")
	require.NoError(t, WriteShard(path, ids, 50257))
	// The file is in the page cache now, as right after kvgpt prepare: every fault could map the
	// pages around it too.
	s, err := Open(path)
	require.NoError(t, err)
	defer s.Close()
	base := unsafe.Pointer(unsafe.SliceData(s.Seq.parts[0].u16))
	rng := rand.New(rand.NewPCG(1, 1))
	seq := make([]int32, 129)
	for range 2000 {
		off := rng.IntN(n - len(seq))
		s.Seq.Read(seq, off)
		require.Equal(t, ids[off:off+len(seq)], seq)
	}
	released := mappingRss(t, base)
	require.LessOrEqual(t, released, 64, "kB resident after 2000 reads of 129 tokens")

	var sum int
	u16 := s.Seq.parts[0].u16
	for range 2000 {
		sum += int(u16[rng.IntN(n)])
	}
	kept := mappingRss(t, base)
	t.Logf("resident after 2000 reads through Seq.Read: %d kB; after 2000 reads of the mapping: %d kB (sum %d)", released, kept, sum)
	require.Greater(t, kept, 4*2000/2, "the negative control: pages read directly stay resident")
}
