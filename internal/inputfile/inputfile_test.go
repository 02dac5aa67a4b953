package inputfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOpenAndReadAll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data.txt")
	require.NoError(t, os.WriteFile(path, []byte("hello"), 0o644))

	t.Run("regular/within-limit", func(t *testing.T) {
		f, err := Open("data file", path, Limit{Bytes: 5})
		require.NoError(t, err)
		require.Equal(t, int64(5), f.Size)
		require.NoError(t, f.Close())
		b, err := ReadAll("data file", path, Limit{Bytes: 5})
		require.NoError(t, err)
		require.Equal(t, "hello", string(b))
		b, err = ReadAll("data file", path, NoLimit)
		require.NoError(t, err)
		require.Equal(t, "hello", string(b))
	})
	t.Run("regular/over-limit", func(t *testing.T) {
		_, err := ReadAll("data file", path, Limit{Bytes: 4, Why: "what the memory holds"})
		var tl *TooLargeError
		require.ErrorAs(t, err, &tl)
		require.Equal(t, "data file "+path+" is 5 B, more than the limit of 4 B (what the memory holds)", err.Error())
	})
	t.Run("missing", func(t *testing.T) {
		_, err := Open("checkpoint", filepath.Join(dir, "nope"), NoLimit)
		require.ErrorIs(t, err, fs.ErrNotExist)
		require.Equal(t, "checkpoint "+filepath.Join(dir, "nope")+" does not exist", err.Error())
	})
	t.Run("directory", func(t *testing.T) {
		_, err := ReadAll("checkpoint", dir, NoLimit)
		var nr *NotRegularError
		require.ErrorAs(t, err, &nr)
		require.Equal(t, "checkpoint "+dir+" is a directory, not a regular file", err.Error())
	})
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 1000: "1.00 kB", 83_249_000: "83.2 MB", 21_474_836_480: "21.5 GB", 999_600: "1.00 MB"} {
		require.Equal(t, want, Bytes(n), "%d", n)
	}
}
