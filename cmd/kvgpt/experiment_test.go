package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
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
		{[]string{"--jobs", "0"}, "--jobs must be between 1 and 64, got 0"},
		{[]string{"--report-only"}, "--report-only needs --out"},
		{[]string{"--variants", "("}, "--variants: error parsing regexp"},
		{[]string{"--variants", "^nothing$"}, `--variants "^nothing$" matches no variant of preset micro`},
		{[]string{"--report-only", "--out", t.TempDir()}, "results.json: no such file"},
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
	code := run([]string{"experiment", "--preset", "micro", "--data", data, "--seeds", "1", "--steps", "4", "--jobs", "2", "--out", filepath.Join(dir, "out")}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, out.String(), "report.md")
	require.Contains(t, errb.String(), "run 13/13")
	require.Contains(t, errb.String(), "2 at once")
	report := filepath.Join(dir, "out", "report.md")
	before, err := os.ReadFile(report)
	require.NoError(t, err)

	// --report-only redraws the report from results.json, training nothing.
	require.NoError(t, os.Remove(report))
	out.Reset()
	errb.Reset()
	code = run([]string{"experiment", "--report-only", "--out", filepath.Join(dir, "out")}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	require.NotContains(t, errb.String(), "run 1/")
	after, err := os.ReadFile(report)
	require.NoError(t, err)
	require.Equal(t, tableOf(string(before)), tableOf(string(after)))

	// --variants runs a subset.
	errb.Reset()
	code = run([]string{"experiment", "--preset", "micro", "--data", data, "--seeds", "1", "--steps", "4", "--variants", "^(original|identity)$", "--out", filepath.Join(dir, "two")}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, errb.String(), "2 variants × 1 seeds")
	require.Contains(t, errb.String(), "run 2/2 identity")
}

// tableOf returns the lines of a report that start with "| " (its tables, not its timestamps).
func tableOf(report string) string {
	var t []string
	for _, l := range strings.Split(report, "\n") {
		if strings.HasPrefix(l, "| ") {
			t = append(t, l)
		}
	}
	return strings.Join(t, "\n")
}
