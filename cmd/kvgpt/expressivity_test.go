package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExpressivityCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run([]string{"expressivity", "-d", "2", "-m", "3", "-blocks", "1", "-restarts", "1", "-steps", "100", "-samples", "32", "-out", dir}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, out.String(), "rel. error floor")
	for _, f := range []string{"table.txt", "results.json", "expressivity.png"} {
		_, err := os.Stat(filepath.Join(dir, f))
		require.NoError(t, err, f)
	}

	errb.Reset()
	code = run([]string{"expressivity", "-d", "0"}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, errb.String(), "d must be ≥ 1")
}
