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

	// An absurd learning rate: the fits blow up, and the command says so instead of a table of
	// errors of 1e119 with exit 0.
	diverged := filepath.Join(t.TempDir(), "diverged")
	errb.Reset()
	code = run([]string{"expressivity", "-d", "2", "-m", "3", "-blocks", "1", "-restarts", "1", "-steps", "50", "-samples", "32", "-lr", "1e30", "-out", diverged}, &out, &errb)
	require.Equal(t, 1, code)
	require.Regexp(t, `kvgpt expressivity: a fit of block random-1 at width \d+ diverged: its held-out relative error is \S+ \(the zero function's is 1, a diverged fit's above 10\): lower the learning rate \(--lr 1e\+30\); nothing written to `+diverged, errb.String())
	_, err := os.Stat(filepath.Join(diverged, "results.json"))
	require.True(t, os.IsNotExist(err), "no results written")

	// An --out that cannot be written fails before the fits.
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	errb.Reset()
	code = run([]string{"expressivity", "-steps", "100000", "-out", filepath.Join(file, "out")}, &out, &errb)
	require.Equal(t, 1, code)
	require.Contains(t, errb.String(), "kvgpt expressivity: --out: cannot create output directory")
	require.NotContains(t, errb.String(), "fit 1/")
}
