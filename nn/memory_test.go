package nn

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCPUAvailableMemory(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("the available memory is read on Linux and macOS only")
	}
	c := NewCPU(1)
	defer c.Close()
	n, err := c.AvailableMemory()
	require.NoError(t, err)
	require.Positive(t, n)
	t.Logf("available: %d bytes", n)
}

func TestParseMeminfo(t *testing.T) {
	n, err := parseMeminfo([]byte("MemTotal:       24684092 kB\nMemFree:        17611328 kB\nMemAvailable:   21376244 kB\nBuffers: 1 kB\n"))
	require.NoError(t, err)
	require.Equal(t, int64(21376244)<<10, n)
	_, err = parseMeminfo([]byte("MemTotal:       24684092 kB\n"))
	require.ErrorContains(t, err, "no MemAvailable")
	_, err = parseMeminfo([]byte("MemAvailable: lots\n"))
	require.ErrorContains(t, err, "cannot read")
}

func TestParseVMStat(t *testing.T) {
	out := `Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                                7000.
Pages active:                            500000.
Pages inactive:                          200000.
Pages speculative:                         3000.
Pages throttled:                              0.
Pages wired down:                        150000.
Pages purgeable:                           9000.
"Translation faults":                 123456789.
`
	n, err := parseVMStat([]byte(out))
	require.NoError(t, err)
	require.Equal(t, int64(7000+200000+3000)*16384, n)
	_, err = parseVMStat([]byte("Mach Virtual Memory Statistics: (page size of 4096 bytes)\nPages free: 1.\n"))
	require.ErrorContains(t, err, "lacks")
	_, err = parseVMStat([]byte("something else\n"))
	require.ErrorContains(t, err, "page size")
}

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

func TestCgroupRoom(t *testing.T) {
	t.Run("v2/limit=1GB", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			"memory.max":              "max\n",
			"job/memory.max":          "1000000000\n",
			"job/memory.current":      "300000000\n",
			"job/memory.stat":         "anon 100\nfile 250000000\ninactive_file 100000000\nactive_file 1\n",
			"job/task/memory.max":     "max\n",
			"job/task/memory.stat":    "inactive_file 5\n",
			"job/task/memory.current": "7\n",
		})
		room, ok := cgroupRoom(root, []byte("0::/job/task\n"))
		require.True(t, ok)
		require.Equal(t, int64(1000000000-(300000000-100000000)), room, "the parent's limit, less its use without the inactive file cache")
	})
	t.Run("v1/limit=2GB", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			"memory/memory.limit_in_bytes":   "9223372036854771712\n",
			"memory/memory.usage_in_bytes":   "5000000000\n",
			"memory/a/memory.limit_in_bytes": "2000000000\n",
			"memory/a/memory.usage_in_bytes": "500000000\n",
			"memory/a/memory.stat":           "cache 1\ntotal_inactive_file 100000000\n",
		})
		room, ok := cgroupRoom(root, []byte("5:cpu,cpuacct:/a\n4:memory:/a\n0::/\n"))
		require.True(t, ok)
		require.Equal(t, int64(2000000000-400000000), room)
	})
	t.Run("no-limit", func(t *testing.T) {
		root := t.TempDir()
		writeFiles(t, root, map[string]string{
			"memory/memory.limit_in_bytes": "9223372036854771712\n",
			"memory/memory.usage_in_bytes": "5000000000\n",
		})
		_, ok := cgroupRoom(root, []byte("4:memory:/\n0::/\n"))
		require.False(t, ok)
		_, ok = cgroupRoom(t.TempDir(), []byte("4:memory:/missing\n"))
		require.False(t, ok)
	})
}
