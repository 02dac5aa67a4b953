package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/lockfile"
)

func TestExperimentCommandErrors(t *testing.T) {
	busy := t.TempDir()
	lock, err := lockfile.Acquire(filepath.Join(busy, experimentLockFile))
	require.NoError(t, err)
	defer lock.Unlock()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "huge"}, `--preset: gpt: unknown preset "huge"`},
		{[]string{"--preset", "shakespeare-char"}, "needs --data FILE"},
		{[]string{"--backend", "abacus"}, `unknown --backend "abacus"`},
		{[]string{"--backend", "metal", "--threads", "2"}, "--threads 2 sizes the cpu backend; --backend metal would ignore it (drop it)"},
		{[]string{"--data", filepath.Join(t.TempDir(), "missing.txt"), "--out", t.TempDir()}, "does not exist"},
		{[]string{"--steps", "-1"}, "--steps must be ≥ 0 (0: the preset's), got -1"},
		{[]string{"--lr", "-1"}, "--lr must be a finite number ≥ 0 (0: the preset's), got -1"},
		{[]string{"--preset", "dh64", "--lr", "0.001"}, "--lr 0.001: preset dh64 sweeps the learning rate itself"},
		{[]string{"--seeds", "1000000000000"}, "--seeds must be between 0 (the preset's) and 1000, got 1000000000000"},
		{[]string{"--seeds", "-2"}, "--seeds must be between 0 (the preset's) and 1000, got -2"},
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--jobs", "0"}, "--jobs must be between 1 and 64, got 0"},
		{[]string{"--report-only"}, "--report-only needs --out"},
		{[]string{"--variants", "("}, "--variants: error parsing regexp"},
		{[]string{"--variants", "^nothing$"}, `--variants "^nothing$" matches no variant of preset micro`},
		{[]string{"--report-only", "--out", t.TempDir()}, "results.json does not exist"},
		{[]string{"--report-only", "--out", filepath.Join(t.TempDir(), "none")}, "is not an experiment's directory"},
		{[]string{"--report-only", "--fresh", "--seeds", "3", "--out", t.TempDir()}, "--report-only draws the report from --out's results.json and trains nothing: --fresh true, --seeds 3 would be ignored (drop it)"},
		{[]string{"--out", busy}, fmt.Sprintf("output directory %s is in use by another kvgpt experiment (pid %d, which holds %s)", busy, os.Getpid(), filepath.Join(busy, experimentLockFile))},
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

	// While an experiment runs there (it holds the lock), --report-only draws the report but leaves
	// results.json to it.
	results := filepath.Join(dir, "out", "results.json")
	st, err := os.Stat(results)
	require.NoError(t, err)
	lock, err := lockfile.Acquire(filepath.Join(dir, "out", experimentLockFile))
	require.NoError(t, err)
	require.NoError(t, os.Remove(report))
	out.Reset()
	code = run([]string{"experiment", "--report-only", "--out", filepath.Join(dir, "out")}, &out, &errb)
	require.NoError(t, lock.Unlock())
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, out.String(), "an experiment is running in "+filepath.Join(dir, "out")+": its report so far is drawn, its results.json left to it")
	_, err = os.Stat(report)
	require.NoError(t, err)
	st2, err := os.Stat(results)
	require.NoError(t, err)
	require.Equal(t, st.ModTime(), st2.ModTime(), "results.json untouched")

	// --variants runs a subset.
	errb.Reset()
	code = run([]string{"experiment", "--preset", "micro", "--data", data, "--seeds", "2", "--steps", "4", "--lr", "0.002", "--variants", "^(original|identity)$", "--out", filepath.Join(dir, "two")}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, errb.String(), "2 variants × 2 seeds")
	require.Contains(t, errb.String(), "run 4/4 identity")
	two, err := os.ReadFile(filepath.Join(dir, "two", "report.md"))
	require.NoError(t, err)
	require.Contains(t, string(two), "AdamW lr 0.002 → 0.0002 ", "--lr, the minimum in proportion")
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
