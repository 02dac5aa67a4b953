package darwincheck_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/kvgpt/kvgpt/internal/darwincheck"
)

// moduleRoot returns the directory of kvgpt's go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err, "go env GOMOD")
	gomod := strings.TrimSpace(string(out))
	require.NotEmpty(t, gomod, "not inside a module")
	return filepath.Dir(gomod)
}

// copyModule makes a throw-away module in a temporary directory holding a copy of the package in
// dir pkg of kvgpt (e.g. "metal"), which still imports the rest of kvgpt through a replace
// directive. It returns the new module's directory.
func copyModule(t *testing.T, root, pkg string) string {
	t.Helper()
	tmp := t.TempDir()
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	mod := regexp.MustCompile(`(?m)^module .*$`).ReplaceAllString(string(gomod), "module kvgpt.test/mutant")
	mod += fmt.Sprintf("\nrequire github.com/kvgpt/kvgpt v0.0.0\n\nreplace github.com/kvgpt/kvgpt => %s\n", root)
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "go.mod"), []byte(mod), 0o644))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(tmp, "go.sum"), sum, 0o644))

	src, dst := filepath.Join(root, pkg), filepath.Join(tmp, pkg)
	require.NoError(t, os.MkdirAll(dst, 0o755))
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644))
	}
	return tmp
}

// mutate replaces the first occurrence of old by new in the first file of dir whose name matches
// glob and contains old. It returns that file's name and the 1-based line of the change.
func mutate(t *testing.T, dir, glob, old, new string) (string, int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, glob))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		i := strings.Index(string(data), old)
		if i < 0 {
			continue
		}
		line := 1 + strings.Count(string(data[:i]), "\n")
		data = []byte(string(data[:i]) + new + string(data[i+len(old):]))
		require.NoError(t, os.WriteFile(f, data, 0o644))
		return filepath.Base(f), line
	}
	t.Fatalf("no file %s in %s contains %q: the mutation no longer applies, update the test", glob, dir, old)
	return "", 0
}

// check runs the darwin/arm64 type-check over ./metal (with tests) in the module at dir.
func check(t *testing.T, dir string) *darwincheck.Result {
	t.Helper()
	res, err := darwincheck.Check(darwincheck.Config{Dir: dir, Patterns: []string{"./metal"}, Tests: true})
	require.NoError(t, err)
	require.Contains(t, res.Roots, "kvgpt.test/mutant/metal")
	return res
}

// TestCheckCatchesMutations proves the type-check sees the darwin-only files of package metal and
// their tests: a copy of the package passes, and each typical darwinkit mistake injected into a
// second copy is reported at its file and line. (The mutations sit on different lines of one copy,
// so one check run reports them all; go/types reports every error, not just the first.)
func TestCheckCatchesMutations(t *testing.T) {
	root := moduleRoot(t)

	res := check(t, copyModule(t, root, "metal"))
	require.True(t, res.OK(), "the unchanged copy must type-check:\n%s", strings.Join(res.Errors, "\n"))

	mutations := []struct {
		name     string
		glob     string // files to mutate
		old, new string
		want     string // in the message
	}{
		{"wrong darwinkit method name", "*.go", ".NewFunctionWithName(", ".NewFunctionNamed(", "NewFunctionNamed"},
		{"setter without its AtIndex", "*.go", ".SetThreadgroupMemoryLengthAtIndex(", ".SetThreadgroupMemoryLength(", "SetThreadgroupMemoryLength"},
		{"EndEncoding on the compute encoder", "*.go", "metal.CommandEncoderObject{Object: s.enc.Object}.EndEncoding()", "s.enc.EndEncoding()", "EndEncoding"},
		{"int where darwinkit takes uint", "*.go", "NewBufferWithLengthOptions(uint(bytes),", "NewBufferWithLengthOptions(bytes,", "bytes"},
		{"wrong method in a darwin-only test file", "*_internal_test.go", ".FunctionNames()", ".FunctionNamez()", "FunctionNamez"},
		{"wrong name in an external darwin-only test file", "conformance_test.go", "nntest.Run(t,", "nntest.Runn(t,", "Runn"},
	}
	dir := copyModule(t, root, "metal")
	type site struct {
		file string
		line int
	}
	sites := make([]site, len(mutations))
	for i, m := range mutations {
		sites[i].file, sites[i].line = mutate(t, filepath.Join(dir, "metal"), m.glob, m.old, m.new)
	}
	// A file the darwin build does not compile must not be checked either.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "metal", "broken_linux.go"),
		[]byte("package metal\n\nvar brokenOnLinux int = \"not an int\"\n"), 0o644))

	res = check(t, dir)
	require.False(t, res.OK(), "no mutation was reported")
	require.NotContains(t, strings.Join(res.Errors, "\n"), "broken_linux.go", "a linux-only file was checked for darwin")
	require.Len(t, res.Errors, len(mutations), "one error per mutation:\n%s", strings.Join(res.Errors, "\n"))
	for i, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			at := fmt.Sprintf("%s:%d:", filepath.Join(dir, "metal", sites[i].file), sites[i].line)
			found := false
			for _, e := range res.Errors {
				if strings.HasPrefix(e, at) && strings.Contains(e, m.want) {
					found = true
				}
			}
			require.True(t, found, "want an error at %s mentioning %s, got:\n%s", at, m.want, strings.Join(res.Errors, "\n"))
		})
	}
}

// TestCheckReportsGoListErrors checks that a pattern matching nothing is an error, not a silent
// pass.
func TestCheckReportsGoListErrors(t *testing.T) {
	res, err := darwincheck.Check(darwincheck.Config{Dir: moduleRoot(t), Patterns: []string{"./no/such/package"}})
	require.NoError(t, err)
	require.False(t, res.OK(), "a missing package must be reported")
	require.Contains(t, strings.Join(res.Errors, "\n"), "no/such/package")
}
