package bpe

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// shakespearePath is tiny Shakespeare on the development machine; tests that need it skip without it.
const shakespearePath = "/work/shared/data/tinyshakespeare.txt"

func readShakespeare(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(shakespearePath)
	if err != nil {
		tb.Skipf("tiny Shakespeare is not on this machine: %v", err)
	}
	return b
}

// goSource returns up to maxBytes of the Go standard library's hand-written sources: the non-test
// .go files under `go env GOROOT`/src outside cmd/, testdata/ and vendor/, in path order, without
// generated files and numeric tables (like kvgpt's default corpus, whose order differs).
func goSource(tb testing.TB, maxBytes int) []byte {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		tb.Skipf("no Go installation: %v", err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "src")
	var text []byte
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case len(text) >= maxBytes:
			return filepath.SkipAll
		case d.IsDir() && (d.Name() == "testdata" || d.Name() == "vendor" || path == filepath.Join(src, "cmd")):
			return filepath.SkipDir
		case d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go"):
			return nil
		}
		b, err := os.ReadFile(path)
		generated := strings.Contains(string(b[:min(len(b), 1024)]), "DO NOT EDIT") || 100*strings.Count(string(b), "0x") > len(b)
		if err == nil && !generated {
			text = append(text, b...)
		}
		return err
	})
	require.NoError(tb, err)
	require.NotEmpty(tb, text)
	return text[:min(len(text), maxBytes)]
}

// ownSource is this package's Go files, concatenated in name order: a training text every checkout has.
func ownSource(tb testing.TB) []byte {
	tb.Helper()
	names, err := filepath.Glob("*.go")
	require.NoError(tb, err)
	slices.Sort(names)
	var text []byte
	for _, name := range names {
		b, err := os.ReadFile(name)
		require.NoError(tb, err)
		text = append(text, b...)
	}
	return text
}
