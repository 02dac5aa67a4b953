//go:build unix

package inputfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRefusesSpecialFilesAtOnce: /dev/zero (endless), a FIFO without a writer (opening it would
// block) and a 20 GB sparse file are refused without reading them, well within a second.
func TestRefusesSpecialFilesAtOnce(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	sparse := filepath.Join(dir, "sparse")
	f, err := os.Create(sparse)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(20<<30))
	require.NoError(t, f.Close())
	for _, c := range []struct {
		name, path, want string
		limit            Limit
	}{
		{"dev-zero", "/dev/zero", "checkpoint /dev/zero is a character device, not a regular file", NoLimit},
		{"fifo", fifo, "checkpoint " + fifo + " is a named pipe (FIFO), not a regular file", NoLimit},
		{"sparse-20GiB", sparse, "checkpoint " + sparse + " is 21.5 GB, more than the limit of 1.00 GB (test)", Limit{Bytes: 1e9, Why: "test"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			_, err := ReadAll("checkpoint", c.path, c.limit)
			require.EqualError(t, err, c.want)
			require.Less(t, time.Since(start), time.Second)
			var nr *NotRegularError
			var tl *TooLargeError
			require.True(t, errors.As(err, &nr) || errors.As(err, &tl))
		})
	}
}
