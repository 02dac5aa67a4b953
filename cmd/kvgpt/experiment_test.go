package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestExperimentCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "huge"}, "unknown preset"},
		{[]string{"--preset", "shakespeare-char"}, "needs --data FILE"},
		{[]string{"--backend", "abacus"}, "unknown backend"},
		{[]string{"--data", filepath.Join(t.TempDir(), "missing.txt")}, "does not exist"},
		{[]string{"--steps", "-1"}, "must be ≥ 0"},
		{[]string{"--seeds", "1000000000000"}, "--seeds must be ≤ 1000, got 1000000000000"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		var out, errb bytes.Buffer
		code := run(append([]string{"experiment"}, c.args...), &out, &errb)
		require.Equal(t, 1, code, "%v: %s", c.args, errb.String())
		require.Contains(t, errb.String(), c.want, "%v", c.args)
	}
}

func TestExperimentCommandMicro(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	require.NoError(t, os.WriteFile(data, bytes.Repeat([]byte("to be or not to be, that is the question.\n"), 200), 0o644))
	var out, errb bytes.Buffer
	code := run([]string{"experiment", "--preset", "micro", "--data", data, "--seeds", "1", "--steps", "4", "--out", filepath.Join(dir, "out")}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, out.String(), "report.md")
	require.Contains(t, errb.String(), "run 13/13")
	_, err := os.Stat(filepath.Join(dir, "out", "report.md"))
	require.NoError(t, err)
}
