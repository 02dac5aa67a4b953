package atomicfile

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.txt")
	require.NoError(t, Write(path, []byte("ab"), []byte("cd")))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "abcd", string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), st.Mode().Perm())

	// A failed write (the target directory does not exist) leaves nothing behind.
	require.Error(t, Write(filepath.Join(dir, "missing", "g.txt"), []byte("x")))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only f.txt, no temporary file")
}
