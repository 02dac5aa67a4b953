package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/faultio"
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
	requireOnly(t, dir, "f.txt")
}

// TestWriteFuncFailsAfterNBytes: a write that fails after n bytes, for every n, returns the error
// and leaves the previous file byte-identical, with no temporary file beside it.
func TestWriteFuncFailsAfterNBytes(t *testing.T) {
	old := []byte("the previous content, which must survive")
	next := []byte("a new and longer content that never lands on disk")
	for n := 0; n < len(next); n += 7 {
		t.Run(fmt.Sprintf("fail-after=%d/of=%d", n, len(next)), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f.bin")
			require.NoError(t, os.WriteFile(path, old, 0o644))
			err := WriteFunc(path, func(w io.Writer) error {
				_, err := (&faultio.Writer{W: w, N: n}).Write(next)
				return err
			})
			require.ErrorIs(t, err, faultio.ErrInjected)
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, old, got)
			requireOnly(t, dir, "f.bin")
		})
	}
	t.Run("write-succeeds/replaces", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "f.bin")
		require.NoError(t, os.WriteFile(path, old, 0o644))
		require.NoError(t, WriteFunc(path, func(w io.Writer) error { _, err := w.Write(next); return err }))
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Equal(t, next, got)
		requireOnly(t, dir, "f.bin")
	})
}

// TestRemoveTemps: the temporary files a killed writer left are removed; other files stay.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt.safetensors")
	for _, name := range []string{"ckpt.safetensors", ".ckpt.safetensors.tmp123", ".ckpt.safetensors.tmp9", ".other.tmp1", "ckpt.safetensors.tmp"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644))
	}
	n, err := RemoveTemps(path)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	requireOnly(t, dir, ".other.tmp1", "ckpt.safetensors", "ckpt.safetensors.tmp")

	_, err = RemoveTemps(filepath.Join(dir, "missing", "f"))
	require.Error(t, err)
}

// requireOnly checks that dir holds exactly the files names (in directory order).
func requireOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	require.Equal(t, names, got)
}
